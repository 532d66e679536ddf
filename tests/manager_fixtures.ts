/**
 * Shared rig of the tests that drive a real {@link ChannelManager} (real Workers): the manager
 * wired the way `src/playout.ts` wires it (each channel's outputs a {@link ChannelOutputSet},
 * plan handles read by the control layer's parser), the metrics source `playout.ts` builds from
 * it, a small program format and channel spec, and a socket standing in for Core's.
 *
 * @module
 */

import { ChannelManager, type ChannelManagerOptions } from "../src/engine/channel_manager.ts";
import { ChannelOutputSet } from "../src/outputs/channel_output_set.ts";
import { parsePlanHandle } from "../src/control/plan_handle.ts";
import type { MetricsSource } from "../src/observability/metrics.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import type { ProgramFormat } from "../media/program_format.ts";
import { Logger } from "../src/log/log.ts";
import { assert } from "./assert.ts";

/** A program format small enough that several channels encode at once on a busy box. */
export const TEST_FORMAT: ProgramFormat = {
  width: 160,
  height: 90,
  frameRate: { num: 25, den: 1 },
  sampleRate: 48000,
  channels: 2,
  aspectPolicy: "preserve",
};

/** A channel of `source` (a test pattern by default) in {@link TEST_FORMAT}, encoded cheaply. */
export function testChannelSpec(
  id: number,
  opts: { source?: ChannelSpec["source"]; format?: ProgramFormat; name?: string } = {},
): ChannelSpec {
  return {
    id,
    name: opts.name ?? `ch${id}`,
    format: opts.format ?? TEST_FORMAT,
    video: { codec: "libx264", preset: "ultrafast", crf: 35, keyintFrames: 25 },
    audio: { codec: "aac", bitrateKbps: 64 },
    source: opts.source ?? { kind: "test_pattern" },
  };
}

/** A logger that writes errors only, nowhere. */
export function quietLog(): Logger {
  return new Logger({ level: "error", write: () => {} });
}

/**
 * A manager whose channels' outputs are the real ones (fan-out, attach link, frame sink) and
 * whose plan handles are read like gRPC's (unless `parsePlanHandle` is given).
 */
export function testManager(
  opts: Omit<ChannelManagerOptions<ChannelOutputSet>, "outputs" | "parsePlanHandle"> & {
    parsePlanHandle?: ChannelManagerOptions["parsePlanHandle"];
  },
): ChannelManager<ChannelOutputSet> {
  return new ChannelManager({
    parsePlanHandle,
    ...opts,
    outputs: (id) => new ChannelOutputSet({ channelId: id, log: opts.log }),
  });
}

/** What metrics read of a manager: its channels, their stats and their fan-outs. */
export function metricsSourceOf(manager: ChannelManager<ChannelOutputSet>): MetricsSource {
  return {
    list: () => manager.list(),
    stats: (id) => manager.stats(id),
    fanout: (id) => manager.outputs(id)?.fanout,
  };
}

/** A Unix socket standing in for Core's: accepts attach links and reads their TS away. */
export interface CoreSocketStandIn {
  readonly path: string;
  /** Stops listening (connections already accepted are read to their end). */
  close(): Promise<void>;
}

/** Listens at `path` like Core's socket. */
export function coreSocketStandIn(path: string): CoreSocketStandIn {
  const listener = Deno.listen({ transport: "unix", path });
  const drain = (async () => {
    for await (const conn of listener) conn.readable.pipeTo(new WritableStream()).catch(() => {});
  })().catch(() => {});
  return {
    path,
    async close() {
      listener.close();
      await drain;
    },
  };
}

/** Makes a FIFO at `path`: an asset whose open or read blocks until a writer comes. */
export async function mkfifo(path: string): Promise<void> {
  const r = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert(r.success, `mkfifo ${path}: ${new TextDecoder().decode(r.stderr)}`);
}
