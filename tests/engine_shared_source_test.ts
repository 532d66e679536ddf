/**
 * Shared sources: a channel following another's decode of the same file gets, byte for byte,
 * the pictures and audio its own decode would have given — also when it falls back to decoding
 * itself mid-file (the leader ended, it fell too far behind the ring) — and only a matching
 * source is followed. The cross-thread case runs the leader in a Worker, as channels do.
 */

import { assert, assertEquals } from "./assert.ts";
import { ffprobe, fixture } from "./fixtures.ts";
import { testManager } from "./manager_fixtures.ts";
import { Logger } from "../src/log/log.ts";
import { defaultEncoders } from "../media/encoder_settings.ts";
import type { ChannelSpec } from "../media/channel_spec.ts";
import { FileProducer } from "../src/engine/producers/file_producer.ts";
import type { Producer } from "../src/engine/producers/producer.ts";
import {
  endSharedSourcesOf,
  MAX_WAIT_MS,
  openSharedSource,
  setSharingChannels,
  sharedSourceBuffers,
  type SharedSourceKey,
} from "../src/engine/producers/shared_source.ts";
import type { ProgramFormat } from "../media/program_format.ts";

const FORMAT: ProgramFormat = {
  width: 320,
  height: 240,
  frameRate: { num: 30, den: 1 },
  sampleRate: 48000,
  channels: 2,
  aspectPolicy: "preserve",
};
const SAMPLES = 1600;

interface Frame {
  picture: Uint8Array | undefined;
  audio: Int16Array;
}

function take(p: Producer, k: number): Frame {
  const picture = p.nextVideo({ frameNumber: k, dueUtcMs: 0 })?.slice();
  return { picture, audio: p.nextAudio(SAMPLES).slice() };
}

function privately(path: string, frames: number, inPointSeconds = 0): Frame[] {
  const p = new FileProducer(path, FORMAT, { inPointSeconds, threads: 1 });
  try {
    return Array.from({ length: frames }, (_, k) => take(p, k));
  } finally {
    p.close();
  }
}

function key(path: string, inPointSeconds = 0, format = FORMAT): SharedSourceKey {
  return { path, inPointSeconds, format, options: { skipLoopFilter: "auto" } };
}

/** Opens `path` shared; counts private opens (and the frames they skipped) in `opens`. */
function shared(
  path: string,
  opens: { skipFrames: number; leading: boolean }[],
  fallbacks: string[] = [],
  k = key(path),
): Producer {
  return openSharedSource(k, (skipFrames, leading = false) => {
    opens.push({ skipFrames, leading });
    return new FileProducer(path, k.format, {
      inPointSeconds: k.inPointSeconds + skipFrames / 30,
      threads: 1,
    });
  }, (reason) => fallbacks.push(reason));
}

/** A Worker leading `path` (owner 2), a frame every 20 ms; resolves once it leads. */
async function leaderWorker(path: string, frames: number): Promise<Worker> {
  setSharingChannels(2);
  const worker = new Worker(new URL("./shared_source_leader_worker.ts", import.meta.url), {
    type: "module",
  });
  const leading = new Promise<void>((resolve, reject) => {
    worker.onmessage = (e) => e.data === "leading" ? resolve() : reject(new Error(e.data));
    worker.onerror = (e) => reject(new Error(e.message));
  });
  worker.postMessage({ buffers: sharedSourceBuffers(), path, format: FORMAT, frames, paceMs: 20 });
  try {
    await leading;
  } catch (err) {
    worker.terminate();
    throw err;
  }
  return worker;
}

/** A leader and its follower of `path`, in this thread, with their opens and fallbacks. */
function pair(path: string) {
  setSharingChannels(2);
  const opens: { skipFrames: number; leading: boolean }[] = [];
  const fallbacks: string[] = [];
  const leader = shared(path, opens);
  const follower = shared(path, opens, fallbacks);
  return { opens, fallbacks, leader, follower };
}

function assertSameFrames(actual: Frame[], expected: Frame[], what: string): void {
  assertEquals(actual.length, expected.length, `${what}: frame count`);
  for (let k = 0; k < expected.length; k++) {
    const a = actual[k];
    const e = expected[k];
    assert(
      (a.picture === undefined) === (e.picture === undefined),
      `${what}: frame ${k} has a picture: ${a.picture !== undefined}, expected ${
        e.picture !== undefined
      }`,
    );
    if (a.picture && e.picture) {
      assert(
        a.picture.length === e.picture.length && a.picture.every((v, i) => v === e.picture![i]),
        `${what}: frame ${k}'s picture differs from a private decode's`,
      );
    }
    assert(
      a.audio.length === e.audio.length && a.audio.every((v, i) => v === e.audio[i]),
      `${what}: frame ${k}'s audio (${a.audio.length} values) differs from a private decode's (${e.audio.length})`,
    );
  }
}

Deno.test("a follower gets a private decode's frames byte for byte, without decoding", async () => {
  const path = await fixture("h264_aac_640x360_10s");
  const frames = 200;
  const expected = privately(path, frames);
  setSharingChannels(2);
  const opens: { skipFrames: number; leading: boolean }[] = [];
  const leader = shared(path, opens);
  const follower = shared(path, opens);
  try {
    assertEquals(opens, [{ skipFrames: 0, leading: true }], "only the leader opens the file");
    const led: Frame[] = [];
    const followed: Frame[] = [];
    // The follower trails by 3 frames, as a channel started a little later does.
    for (let k = 0; k < frames + 3; k++) {
      if (k < frames) led.push(take(leader, k));
      if (k >= 3) followed.push(take(follower, k - 3));
    }
    assertSameFrames(led, expected, "leader");
    assertSameFrames(followed, expected, "follower");
    assertEquals(follower.counters.shared, frames);
    assertEquals(follower.counters.decoded, leader.counters.decoded);
    assertEquals(opens.length, 1, "the follower never opened the file");
  } finally {
    leader.close();
    follower.close();
  }
});

Deno.test("a follower the leader ends before decodes the rest itself, same frames", async () => {
  const path = await fixture("h264_aac_640x360_10s");
  const expected = privately(path, 90);
  const { opens, fallbacks, leader, follower } = pair(path);
  try {
    for (let k = 0; k < 25; k++) take(leader, k);
    leader.close(); // e.g. its channel's plan changed
    const followed = Array.from({ length: 90 }, (_, k) => take(follower, k));
    assertSameFrames(followed, expected, "follower");
    assertEquals(follower.counters.shared, 25);
    assertEquals(opens, [{ skipFrames: 0, leading: true }, { skipFrames: 25, leading: false }]);
    assertEquals(fallbacks.length, 1);
    assert(fallbacks[0].includes("ended at frame 25"), fallbacks[0]);
  } finally {
    follower.close();
  }
});

Deno.test("a follower too far behind the ring decodes from where it is, same frames", async () => {
  const path = await fixture("h264_aac_640x360_10s");
  const expected = privately(path, 150);
  const { opens, fallbacks, leader, follower } = pair(path);
  try {
    const followed: Frame[] = [];
    for (let k = 0; k < 10; k++) {
      take(leader, k);
      followed.push(take(follower, k));
    }
    // The follower stalls while the leader runs on: its next frame is no longer safe to read.
    for (let k = 10; k < 150; k++) take(leader, k);
    for (let k = 10; k < 150; k++) followed.push(take(follower, k));
    assertSameFrames(followed, expected, "follower");
    assertEquals(follower.counters.shared, 10);
    assertEquals(opens[1], { skipFrames: 10, leading: false });
    assert(fallbacks[0].includes("behind"), fallbacks[0]);
  } finally {
    leader.close();
    follower.close();
  }
});

Deno.test("followers that start too far behind share a second decode, same frames", async () => {
  const path = await fixture("h264_aac_640x360_10s");
  const frames = 80;
  const expected = privately(path, frames);
  setSharingChannels(3);
  const opens: { skipFrames: number; leading: boolean }[] = [];
  const fallbacks: string[] = [];
  const first = shared(path, opens);
  // Both join while the first frame is in the ring (channels started one after another)...
  const second = shared(path, opens, fallbacks);
  const third = shared(path, opens, fallbacks);
  try {
    // ...but read only once the leader is past what the ring keeps for them.
    for (let k = 0; k < 45; k++) take(first, k);
    const a: Frame[] = [];
    const b: Frame[] = [];
    for (let k = 0; k < frames; k++) {
      a.push(take(second, k));
      b.push(take(third, k));
    }
    assertSameFrames(a, expected, "second channel");
    assertSameFrames(b, expected, "third channel");
    assertEquals(opens, [{ skipFrames: 0, leading: true }, { skipFrames: 0, leading: true }]);
    assertEquals(second.counters.shared ?? 0, 0, "the second decodes (and leads)");
    assertEquals(third.counters.shared, frames, "the third copies every frame from the second");
    assertEquals(fallbacks.length, 2, fallbacks.join(" | "));
    assert(
      /behind; leading a new shared decode of it from frame 0/.test(fallbacks[0]),
      fallbacks[0],
    );
    assert(/behind; following another decode of it from frame 0/.test(fallbacks[1]), fallbacks[1]);
  } finally {
    first.close();
    second.close();
    third.close();
  }
});

Deno.test("a follower started mid-file, or after slot 0 left the ring, does not follow", async () => {
  const path = await fixture("h264_aac_640x360_10s");
  setSharingChannels(2);
  const opens: { skipFrames: number; leading: boolean }[] = [];
  const leader = shared(path, opens);
  const otherInPoint = shared(path, opens, [], key(path, 1));
  const otherRaster = shared(path, opens, [], key(path, 0, { ...FORMAT, width: 352 }));
  try {
    // Another in-point and another raster are other sources: each leads its own.
    assertEquals(opens.map((o) => o.leading), [true, true, true]);
    for (let k = 0; k < 60; k++) take(leader, k);
    const late = shared(path, opens);
    late.close();
    assertEquals(opens.length, 4, "a channel opening 2 s after the leader decodes itself");
  } finally {
    leader.close();
    otherInPoint.close();
    otherRaster.close();
  }
});

Deno.test("with one channel in the process nothing is written for followers", async () => {
  const path = await fixture("h264_aac_640x360_10s");
  setSharingChannels(1);
  const opens: { skipFrames: number; leading: boolean }[] = [];
  const a = shared(path, opens);
  const b = shared(path, opens);
  try {
    assertEquals(opens, [{ skipFrames: 0, leading: false }, { skipFrames: 0, leading: false }]);
    take(a, 0);
    take(b, 0);
    assertEquals(b.counters.shared ?? 0, 0);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("a follower waits for a leader in another thread and gets its frames", async () => {
  const path = await fixture("h264_aac_640x360_10s");
  const frames = 120;
  const expected = privately(path, frames);
  // The leader paces itself (a frame every 20 ms), so the follower runs ahead and waits.
  const worker = await leaderWorker(path, frames);
  try {
    const opens: { skipFrames: number; leading: boolean }[] = [];
    const follower = shared(path, opens);
    try {
      const followed = Array.from({ length: frames }, (_, k) => take(follower, k));
      assertSameFrames(followed, expected, "follower");
      assertEquals(opens, [], "the follower never opened the file");
      assertEquals(follower.counters.shared, frames);
    } finally {
      follower.close();
    }
  } finally {
    worker.terminate();
  }
});

/** A configured channel looping `path` at {@link FORMAT}, sharing its decode or not. */
function filmChannel(id: number, path: string, share: boolean): ChannelSpec {
  return {
    id,
    name: `film ${id}`,
    format: FORMAT,
    ...defaultEncoders(FORMAT),
    source: { kind: "playlist", paths: [path], loop: true },
    decode: { skipLoopFilter: "auto", share },
  };
}

Deno.test("in the engine, the second channel airing a file alike follows; one that opted out decodes", async () => {
  const path = await fixture("h264_aac_640x360_10s");
  const lines: string[] = [];
  const log = new Logger({ level: "warn", write: (line) => lines.push(line) });
  const manager = testManager({
    log,
    parsePlanHandle: (handle: string) => {
      throw new Error(`no plan handles in this test: ${handle}`);
    },
  });
  const channel = (id: number, share: boolean) => filmChannel(id, path, share);
  const dir = await Deno.makeTempDir();
  try {
    await manager.applyConfig([channel(1, true), channel(2, true), channel(3, false)]);
    // Two seconds of each channel's TS, as a viewer gets it.
    const ts = await Promise.all([1, 2, 3].map(async (id) => {
      const viewer = manager.outputs(id)!.fanout.subscribe();
      const chunks: Uint8Array[] = [];
      let bytes = 0;
      const until = Date.now() + 2_000;
      while (Date.now() < until) {
        const chunk = await viewer.read();
        if (!chunk) break;
        chunks.push(chunk.slice());
        bytes += chunk.length;
      }
      viewer.close();
      const file = `${dir}/channel-${id}.ts`;
      const all = new Uint8Array(bytes);
      let at = 0;
      for (const c of chunks) {
        all.set(c, at);
        at += c.length;
      }
      await Deno.writeFile(file, all);
      return file;
    }));
    // Stats come once a second: wait for a report with 2 s on air everywhere.
    const deadline = Date.now() + 20_000;
    while ([1, 2, 3].some((id) => (manager.stats(id)?.framesOut ?? 0) < 60)) {
      assert(Date.now() < deadline, "2 s on air on every channel within 20 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    const stats = [1, 2, 3].map((id) => manager.stats(id)!);
    const shared = stats.map((s) => s.framesShared);
    const decoded = stats.map((s) => s.framesDecoded);
    // Whichever of 1 and 2 opened the file first leads; the other copies its frames (all of
    // them on a quiet box; on one too busy for it to keep up with the leader it may fall back
    // to decoding by itself, and says so).
    const follower = shared[0] > 0 ? 0 : 1;
    assertEquals(shared[1 - follower], 0, `the leader's frames shared; log: ${lines.join("\n")}`);
    const fellBack = lines.filter((l) => l.includes("shared_source_fallback"));
    assert(
      shared[follower] >= stats[follower].framesOut ||
        (shared[follower] > 0 && fellBack.length > 0),
      `follower: ${shared[follower]} frames shared of ${stats[follower].framesOut} out; log: ${
        lines.join("\n")
      }`,
    );
    assertEquals(shared[2], 0, "the channel with share = false decodes itself");
    assert(decoded.every((d) => d > 30), `frames decoded ${decoded}`);
    for (const file of ts) {
      const probe = await ffprobe(file, [
        "-select_streams",
        "v:0",
        "-count_frames",
        "-show_entries",
        "stream=nb_read_frames,width,height",
      ]);
      const stream = (probe.streams as { nb_read_frames: string; width: number }[])[0];
      assertEquals(stream.width, FORMAT.width, file);
      assert(Number(stream.nb_read_frames) >= 30, `${file}: ${stream.nb_read_frames} frames`);
    }
  } finally {
    await manager.applyConfig([]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("configured channels airing a file alike start in step: one decode for all of them", async () => {
  // Each channel runs 2 s ahead of its clock (60 frames), more than a follower may trail its
  // leader in the ring (42 frames at 320x240). Started one after another, a channel started
  // after the first one had made most of its lead could not follow it from frame 0 and led a
  // decode of its own; started together, they run from one epoch and all follow one leader.
  const path = await fixture("h264_aac_640x360_10s");
  const lines: string[] = [];
  const log = new Logger({ level: "info", write: (line) => lines.push(line) });
  const manager = testManager({ log, leadMs: 2000 });
  const ids = [1, 2, 3, 4];
  try {
    await manager.applyConfig(ids.map((id) => filmChannel(id, path, true)));
    const deadline = Date.now() + 30_000;
    while (ids.some((id) => (manager.stats(id)?.framesOut ?? 0) < 90)) {
      assert(Date.now() < deadline, "3 s on air on every channel within 30 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    const shared = ids.map((id) => manager.stats(id)!.framesShared);
    const leaders = shared.filter((n) => n === 0).length;
    assertEquals(
      leaders,
      1,
      `one channel decodes, the others copy its frames: shared ${shared}; log: ${
        lines.filter((l) => l.includes("shared_source")).join("\n")
      }`,
    );
  } finally {
    await manager.applyConfig([]);
  }
});

Deno.test("when a leading worker is terminated, its followers decode themselves at once", async () => {
  const path = await fixture("h264_aac_640x360_10s");
  const frames = 90;
  const expected = privately(path, frames);
  const worker = await leaderWorker(path, 10_000);
  try {
    const opens: { skipFrames: number; leading: boolean }[] = [];
    const fallbacks: string[] = [];
    const follower = shared(path, opens, fallbacks);
    try {
      const followed = Array.from({ length: 20 }, (_, k) => take(follower, k));
      worker.terminate(); // as ChannelHandle does with a hung worker; nothing closes its source
      assertEquals(endSharedSourcesOf(2), 1);
      const started = performance.now();
      followed.push(take(follower, 20));
      const waited = performance.now() - started;
      for (let k = 21; k < frames; k++) followed.push(take(follower, k));
      assertSameFrames(followed, expected, "follower");
      assertEquals(opens.length, 1, "the follower opened the file once, when the leader ended");
      assert(fallbacks[0].includes("ended"), fallbacks[0]);
      // It fell back without waiting out MAX_WAIT_MS for a leader that is gone.
      assert(waited < MAX_WAIT_MS, `fell back after ${waited.toFixed(0)} ms`);
    } finally {
      follower.close();
    }
  } finally {
    worker.terminate();
  }
});
