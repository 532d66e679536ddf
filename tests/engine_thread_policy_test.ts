/**
 * The thread policy: what each channel's x264 really runs with (x264 writes its settings into
 * the stream, an SEI ffprobe-independent bytes can be searched for), and the policy's bounds.
 */

import { assert, assertEquals } from "./assert.ts";
import { ChannelRunner } from "../src/engine/channel_runner.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { VirtualTimeSource } from "../src/engine/master_clock.ts";
import { channelThreads } from "../src/engine/thread_policy.ts";

const SPEC: ChannelSpec = {
  id: 3,
  name: "threads",
  format: {
    width: 320,
    height: 240,
    frameRate: { num: 30, den: 1 },
    sampleRate: 48000,
    channels: 2,
    aspectPolicy: "preserve",
  },
  video: { codec: "libx264", preset: "ultrafast", crf: 32, keyintFrames: 30 },
  audio: { codec: "aac", bitrateKbps: 96 },
  source: { kind: "test_pattern" },
};

/** The `threads=N` x264 wrote into its settings SEI in the channel's TS. */
function x264Threads(spec: ChannelSpec, threads?: { encoder: number; decoder: number }): number {
  const epoch = Date.UTC(2026, 0, 1);
  const chunks: Uint8Array[] = [];
  const runner = new ChannelRunner(
    { spec, time: new VirtualTimeSource(epoch), epochUtcMs: epoch, threads },
    { ts: (d) => chunks.push(d), frame: () => {}, blockEvent: () => {}, log: () => {} },
  );
  for (let i = 0; i < 40; i++) runner.step();
  runner.stop();
  const text = new TextDecoder("latin1").decode(
    chunks.reduce((a, b) => {
      const out = new Uint8Array(a.length + b.length);
      out.set(a);
      out.set(b, a.length);
      return out;
    }, new Uint8Array(0)),
  );
  const m = / threads=(\d+) /.exec(text);
  assert(m, "no x264 settings SEI in the TS");
  return Number(m[1]);
}

Deno.test("a channel's x264 runs with the policy's threads; a configured count wins", () => {
  assertEquals(x264Threads(SPEC, { encoder: 1, decoder: 1 }), 1);
  assertEquals(x264Threads(SPEC, { encoder: 2, decoder: 2 }), 2);
  assertEquals(
    x264Threads({ ...SPEC, video: { ...SPEC.video, threads: 3 } }, { encoder: 1, decoder: 1 }),
    3,
  );
});

Deno.test("thread policy: one thread each once channels fill the cores; spare cores shared", () => {
  for (const cores of [1, 2, 4, 8, 16]) {
    for (let channels = 1; channels <= 3 * cores; channels++) {
      const t = channelThreads(channels, cores);
      assert(t.encoder >= 1 && t.decoder >= 1, `${channels} on ${cores}: ${JSON.stringify(t)}`);
      if (channels >= cores) assertEquals(t, { encoder: 1, decoder: 1 });
      else {
        // Fewer channels than cores: more than one encoder thread, decoders within the share.
        assert(t.encoder >= 2, `${channels} on ${cores}: ${JSON.stringify(t)}`);
        assert(t.decoder * channels <= cores, `${channels} on ${cores}: ${JSON.stringify(t)}`);
        assert(t.encoder * channels <= Math.max(2 * channels, cores + channels));
      }
    }
  }
  // Nonsense counts are clamped, never zero or NaN threads.
  assertEquals(channelThreads(0, 2), channelThreads(1, 2));
  assertEquals(channelThreads(5, 0), { encoder: 1, decoder: 1 });
  assertEquals(channelThreads(Number.NaN, Number.NaN), { encoder: 1, decoder: 1 });
});
