/**
 * What a channel's outputs are to the engine: where its TS and frames go, and the stream
 * attached to Core. The engine owns this interface; the outputs layer implements it
 * (`src/outputs/channel_output_set.ts`: TS fan-out, attach link, frame-sink routing) and
 * `main` hands the implementation to the {@link ChannelManager} as a factory, so the engine
 * never imports the outputs.
 *
 * @module
 */

import type { StreamTransport } from "../../media/channel_status.ts";
import type { ProgramFrame } from "../../media/program_frame.ts";

/** A consumer of a channel's program frames (Renderer frame sink). */
export interface ChannelFrameConsumer {
  /** Whether anyone wants frames now (the worker sends none otherwise). */
  readonly hasReaders: boolean;
  /** Takes a released frame. Must not block. */
  push(frame: ProgramFrame): void;
  /** Called when readers come and go. */
  onReadersChanged?: (has: boolean) => void;
  /** Counters, for metrics. */
  readonly stats?: { framesSent: number; framesDropped: number; readers: number };
}

/** The stream attached to Core's socket. */
export interface AttachedStream {
  transport: StreamTransport;
  endpoint: string;
}

/** The outputs of one channel, fed by its worker's events. */
export interface ChannelOutputs {
  /** TS bytes from the channel's muxer (whole packets; ownership passes). */
  pushTs(data: Uint8Array): void;
  /** A released program frame (only sent while the frame consumer has readers). */
  pushFrame(frame: ProgramFrame): void;
  /**
   * The stream the current worker muxed is over: what comes next starts with a new stream's
   * PAT/PMT and IDR, never with this one's last GOP.
   */
  streamEnded(): void;
  /** The stream attached to Core, if any. */
  readonly attached: AttachedStream | undefined;
  /** Connects to Core's socket and writes the TS there; rejects when the first connect fails. */
  attach(transport: StreamTransport, endpoint: string): Promise<void>;
  /** Ends the attached stream (nothing attached: nothing happens). */
  detach(): void;
  /** Resolves once the attach link wrote what it has queued, or after `maxMs`. */
  drain(maxMs: number): Promise<void>;
  /** Reconnects of every attach link of the channel so far. */
  readonly attachReconnects: number;
  /** The Renderer frame sink, if any. */
  frameConsumer: ChannelFrameConsumer | undefined;
  /** Closes every output (viewers end after what they have queued). */
  close(): void;
}

/** Makes the outputs of channel `id`. */
export type ChannelOutputsFactory<O extends ChannelOutputs = ChannelOutputs> = (id: number) => O;
