/**
 * The outputs of one channel, in one owner: the TS fan-out (HTTP viewers, GOP cache), the
 * stream attached to Core's socket, and the Renderer frame sink. Implements the engine's
 * {@link ChannelOutputs}; `main` gives the channel manager a factory of these.
 *
 * @module
 */

import type { Logger } from "../log/log.ts";
import type { StreamTransport } from "../../media/channel_status.ts";
import type { ProgramFrame } from "../../media/program_frame.ts";
import type {
  AttachedStream,
  ChannelFrameConsumer,
  ChannelOutputs,
} from "../engine/channel_outputs.ts";
import { TsFanout } from "./ts_fanout.ts";
import { StreamAttach } from "./stream_attach.ts";

/** Options of a {@link ChannelOutputSet}. */
export interface ChannelOutputSetOptions {
  channelId: number;
  /** The engine's log (the fan-out logs under a child with the channel id). */
  log: Logger;
  /** Per-viewer queue bound of the TS fan-out, bytes. */
  viewerQueueBytes?: number;
}

/** A channel's fan-out, attach link and frame sink. */
export class ChannelOutputSet implements ChannelOutputs {
  /** The channel's TS fan-out (GOP cache + viewers), for HTTP egress. */
  readonly fanout: TsFanout;
  frameConsumer: ChannelFrameConsumer | undefined;
  readonly #channelId: number;
  readonly #log: Logger;
  #link: StreamAttach | undefined;
  /** Reconnects of attach links that have been replaced or detached. */
  #reconnectsBefore = 0;

  constructor(opts: ChannelOutputSetOptions) {
    this.#channelId = opts.channelId;
    this.#log = opts.log;
    this.fanout = new TsFanout({
      maxQueueBytes: opts.viewerQueueBytes,
      channelId: opts.channelId,
      log: opts.log.child({ channel: opts.channelId }),
    });
  }

  pushTs(data: Uint8Array): void {
    this.fanout.push(data);
  }

  pushFrame(frame: ProgramFrame): void {
    this.frameConsumer?.push(frame);
  }

  streamEnded(): void {
    this.fanout.resetCache();
  }

  get attached(): AttachedStream | undefined {
    return this.#link && { transport: this.#link.transport, endpoint: this.#link.endpoint };
  }

  async attach(transport: StreamTransport, endpoint: string): Promise<void> {
    this.detach();
    this.#link = await StreamAttach.connect({
      transport,
      endpoint,
      fanout: this.fanout,
      log: this.#log,
      channelId: this.#channelId,
    });
  }

  detach(): void {
    const link = this.#link;
    if (!link) return;
    link.detach();
    this.#reconnectsBefore += link.reconnects;
    this.#link = undefined;
  }

  async drain(maxMs: number): Promise<void> {
    const link = this.#link;
    if (!link) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((r) => timer = setTimeout(r, maxMs));
    await Promise.race([link.stopped, late]);
    clearTimeout(timer);
  }

  get attachReconnects(): number {
    return this.#reconnectsBefore + (this.#link?.reconnects ?? 0);
  }

  close(): void {
    this.fanout.close();
  }
}
