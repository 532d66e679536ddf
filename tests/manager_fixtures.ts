/**
 * Shared rig of the tests that drive a real {@link ChannelManager}: the manager wired the way
 * `src/playout.ts` wires it (each channel's outputs a {@link ChannelOutputSet}), and the
 * metrics source `playout.ts` builds from it.
 *
 * @module
 */

import { ChannelManager, type ChannelManagerOptions } from "../src/engine/channel_manager.ts";
import { ChannelOutputSet } from "../src/outputs/channel_output_set.ts";
import type { MetricsSource } from "../src/observability/metrics.ts";

/** A manager whose channels' outputs are the real ones (fan-out, attach link, frame sink). */
export function testManager(
  opts: Omit<ChannelManagerOptions<ChannelOutputSet>, "outputs">,
): ChannelManager<ChannelOutputSet> {
  return new ChannelManager({
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
