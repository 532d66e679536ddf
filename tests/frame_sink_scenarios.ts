/**
 * Frame-sink behaviours that must hold on every transport; the unix and TCP test files run
 * them against their endpoint.
 *
 * @module
 */

import { assert, assertEquals } from "./assert.ts";
import type { ProgramFormat } from "../media/program_format.ts";
import { streamHeaderFor } from "../src/outputs/frame_protocol.ts";
import { FrameSink, type FrameSinkEndpoint } from "../src/outputs/frame_sink.ts";
import {
  connect,
  frameIsIntact,
  makeFrame,
  Pusher,
  sequences,
  sleep,
  SMALL_FORMAT,
  strictlyIncreasing,
  TestReader,
  waitFor,
} from "./frame_sink_fixtures.ts";

/** Opens a sink of channel 3 on `endpoint`. */
export function openSink(
  endpoint: FrameSinkEndpoint,
  opts: { format?: ProgramFormat; queueFrames?: number } = {},
): Promise<FrameSink> {
  return FrameSink.open({
    channelId: 3,
    format: opts.format ?? SMALL_FORMAT,
    endpoints: [endpoint],
    queueFrames: opts.queueFrames,
  });
}

/** A reader gets the stream header and every pushed frame: count, sizes, sequence, PTS. */
export async function deliversPushedFrames(endpoint: FrameSinkEndpoint): Promise<void> {
  const sink = await openSink(endpoint);
  const reader = new TestReader(await connect(sink.endpoints[0]));
  try {
    await waitFor(() => sink.hasReaders, "the sink to see the reader");
    for (let k = 100; k < 130; k++) {
      sink.push(makeFrame(k));
      await sleep(5);
    }
    await waitFor(() => reader.frames.length >= 30, "30 frames");
    assertEquals(reader.stream, streamHeaderFor(3, SMALL_FORMAT));
    const frames = reader.frames;
    assertEquals(frames.length, 30);
    assertEquals(frames.map((f) => f.header.frameNumber), range(100, 130));
    assertEquals(sequences(frames), range(0, 30));
    assertEquals(frames.map((f) => f.header.pts90k), range(100, 130).map((k) => k * 3000));
    for (const f of frames) {
      assertEquals(f.header.width, 320);
      assertEquals(f.header.height, 240);
      assertEquals(f.header.planeSizes, [76800, 19200, 19200]);
      assertEquals(f.header.planeStrides, [320, 160, 160]);
      assertEquals(f.header.channelId, 3);
      assertEquals(f.audio.length, 1600 * 2);
      assert(frameIsIntact(f), `frame ${f.header.frameNumber} intact`);
    }
    assertEquals(reader.parser.skippedBytes, 0);
    const stats = sink.stats;
    assertEquals(
      [stats.framesPushed, stats.framesSent, stats.framesDropped, stats.readers],
      [30, 30, 0, 1],
    );
  } finally {
    await sink.close();
    await reader.done; // The sink closing ends the reader's stream.
  }
  assertEquals(sink.stats.readers, 0);
}

/**
 * A reader that stops reading for 2 s loses whole frames while `push` goes on and a second
 * reader keeps receiving; after it resumes, its frames are whole and in order. Whether the
 * second reader also keeps up with every frame depends on the machine's load, so it is held to
 * the drop policy (whole frames, in order, every loss counted), not to losing nothing.
 */
export async function slowReaderLosesWholeFrames(endpoint: FrameSinkEndpoint): Promise<void> {
  const format: ProgramFormat = { ...SMALL_FORMAT, width: 640, height: 480 };
  // 30 frames (1 s) of queue: the 2 s pause overflows it for sure.
  const sink = await openSink(endpoint, { format, queueFrames: 30 });
  const fast = new TestReader(await connect(sink.endpoints[0]));
  const slow = new TestReader(await connect(sink.endpoints[0]));
  const pusher = new Pusher(sink, { fps: 30, fmt: format });
  try {
    await waitFor(() => slow.frames.length >= 5, "the slow reader's first frames");
    const pushedAtPause = sink.stats.framesPushed;
    await slow.pauseFor(2000);
    const pushedAtResume = sink.stats.framesPushed;
    await waitFor(
      () => slow.frames.length > 0 && slow.frames.at(-1)!.header.sequence >= pushedAtResume + 10,
      "the slow reader to receive fresh frames after resuming",
    );
    const report = await pusher.stop();
    // The newest frame is never the one a full queue drops, so both readers end on it.
    const last = report.pushed - 1;
    await waitFor(() => fast.frames.at(-1)?.header.sequence === last, "the fast reader's last");
    await waitFor(() => slow.frames.at(-1)?.header.sequence === last, "the slow reader's last");

    // `push` never waited for the stalled reader: the other one received frames pushed while
    // it was stalled. (How long a push takes with a stalled reader is measured by
    // `deno task bench responsiveness`.)
    const fastSeq = sequences(fast.frames);
    assert(
      fastSeq.some((s) => s > pushedAtPause && s < pushedAtResume),
      `the fast reader received frames pushed during the pause (${pushedAtPause}..${pushedAtResume})`,
    );
    assert(strictlyIncreasing(fastSeq), "fast reader's frames in order");
    const seq = sequences(slow.frames);
    assert(strictlyIncreasing(seq), "slow reader's frames in order");
    const gapsOf = (q: number[]) => q.slice(1).reduce((n, s, i) => n + (s - q[i] - 1), 0);
    const gaps = gapsOf(seq);
    assert(gaps > 0, "the slow reader lost frames");
    assert(
      [...slow.frames, ...fast.frames].every((f) => frameIsIntact(f, format)),
      "every frame whole",
    );
    for (const r of [slow, fast]) {
      assertEquals([r.parser.skippedBytes, r.parser.rejectedHeaders], [0, 0]);
    }
    const stats = sink.stats;
    const lost = gaps + gapsOf(fastSeq);
    assert(stats.framesDropped >= lost, `sink counted ${stats.framesDropped} >= ${lost} drops`);
    assertEquals(stats.framesSent, fast.frames.length + slow.frames.length);
  } finally {
    await pusher.stop();
    await sink.close();
    await Promise.all([fast.done, slow.done]);
  }
}

/** A reader that leaves and comes back resumes with the stream header and a whole frame. */
export async function reconnectResumesAtFrameBoundary(endpoint: FrameSinkEndpoint): Promise<void> {
  const sink = await openSink(endpoint);
  const changes: boolean[] = [];
  sink.onReadersChanged = (has) => changes.push(has);
  const pusher = new Pusher(sink, { fps: 30 });
  try {
    const first = new TestReader(await connect(sink.endpoints[0]));
    await waitFor(() => first.frames.length >= 5, "first connection's frames");
    await first.close();
    const lastSeen = first.frames.at(-1)!.header.sequence;
    await waitFor(() => sink.stats.readers === 0, "the sink to notice the reader left");
    assert(!sink.hasReaders, "no readers after the only one left");
    const discardedBefore = sink.stats.framesDiscarded;
    await waitFor(() => sink.stats.framesDiscarded > discardedBefore, "frames discarded");

    const second = new TestReader(await connect(sink.endpoints[0]), 64 + 128);
    await waitFor(() => second.frames.length >= 5, "second connection's frames");
    await second.close();
    const head = new Uint8Array(second.raw.flatMap((c) => [...c]).slice(0, 64 + 128));
    assertEquals(new TextDecoder().decode(head.subarray(0, 4)), "RVFS");
    assertEquals(new TextDecoder().decode(head.subarray(64, 68)), "RVFR");
    assertEquals(second.parser.skippedBytes, 0);
    const seq = sequences(second.frames);
    assert(
      seq[0] > lastSeen + 1,
      `resumed at ${seq[0]} after ${lastSeen} (frames in between lost)`,
    );
    assertEquals(seq, range(seq[0], seq[0] + seq.length), "contiguous after reconnect");
    assert(second.frames.every((f) => frameIsIntact(f)), "whole frames after reconnect");
    await waitFor(() => changes.length >= 4, "reader transitions");
    assertEquals(changes, [true, false, true, false]);
  } finally {
    await pusher.stop();
    await sink.close();
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
