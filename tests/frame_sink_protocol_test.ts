/**
 * The frame wire format: headers round-trip, the CRC rejects damaged headers, and the parser
 * finds frame boundaries in streams cut at any byte, chunked any way, or salted with false
 * sync words.
 */

import { assert, assertEquals } from "./assert.ts";
import { type ProgramFormat, samplesForFrame } from "../media/program_format.ts";
import {
  crc32,
  decodeFrameHeader,
  decodeStreamHeader,
  encodeFrameHeader,
  encodeStreamHeader,
  FRAME_HEADER_SIZE,
  FRAME_MAGIC,
  FRAME_PROTOCOL_VERSION,
  type FrameHeader,
  FrameStreamParser,
  PIXEL_FORMAT_I420,
  type ReceivedFrame,
  SAMPLE_FORMAT_S16,
  STREAM_HEADER_SIZE,
  streamHeaderFor,
} from "../src/outputs/frame_protocol.ts";
import { frameIsIntact, makeFrame, SMALL_FORMAT } from "./frame_sink_fixtures.ts";

const TINY: ProgramFormat = {
  width: 16,
  height: 8,
  frameRate: { num: 30000, den: 1001 },
  sampleRate: 8000,
  channels: 1,
  aspectPolicy: "preserve",
};

function headerFor(k: number, fmt: ProgramFormat, sequence = k): FrameHeader {
  const f = makeFrame(k, fmt);
  const c = (fmt.width >> 1) * (fmt.height >> 1);
  return {
    version: FRAME_PROTOCOL_VERSION,
    channelId: 7,
    flags: f.flags,
    sequence,
    frameNumber: k,
    pts90k: f.pts90k,
    wallClockUtcUs: f.wallClockUtcUs,
    width: fmt.width,
    height: fmt.height,
    pixelFormat: PIXEL_FORMAT_I420,
    sampleFormat: SAMPLE_FORMAT_S16,
    planeSizes: [fmt.width * fmt.height, c, c],
    planeStrides: [fmt.width, fmt.width >> 1, fmt.width >> 1],
    sampleRate: fmt.sampleRate,
    channels: fmt.channels,
    samples: f.samples,
    audioSize: f.audio.byteLength,
    frameRate: fmt.frameRate,
    payloadSize: f.video.length + f.audio.byteLength,
  };
}

/** The bytes a sink would send: stream header, then frames first..first+count-1. */
function wireStream(fmt: ProgramFormat, first: number, count: number): Uint8Array {
  const parts = [encodeStreamHeader(streamHeaderFor(7, fmt))];
  for (let k = first; k < first + count; k++) {
    const f = makeFrame(k, fmt);
    parts.push(encodeFrameHeader(headerFor(k, fmt)), f.video, new Uint8Array(f.audio.buffer));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function framesOf(items: ReturnType<FrameStreamParser["feed"]>): ReceivedFrame[] {
  return items.filter((i): i is ReceivedFrame => i.type === "frame");
}

Deno.test("crc32 matches the standard check value and zlib", () => {
  assertEquals(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assertEquals(crc32(new Uint8Array(0)), 0);
});

Deno.test("stream and frame headers round-trip with the documented sizes", () => {
  const s = streamHeaderFor(42, SMALL_FORMAT);
  const sb = encodeStreamHeader(s);
  assertEquals(sb.length, STREAM_HEADER_SIZE);
  assertEquals(decodeStreamHeader(sb), s);
  const h = headerFor(123456789, SMALL_FORMAT, 2 ** 40 + 5);
  const hb = encodeFrameHeader(h);
  assertEquals(hb.length, FRAME_HEADER_SIZE);
  assertEquals(new DataView(hb.buffer).getUint32(0, true), FRAME_MAGIC);
  assertEquals(new TextDecoder().decode(hb.subarray(0, 4)), "RVFR");
  assertEquals(new TextDecoder().decode(sb.subarray(0, 4)), "RVFS");
  assertEquals(decodeFrameHeader(hb), h);
});

Deno.test("a frame header with any single damaged byte is rejected", () => {
  const hb = encodeFrameHeader(headerFor(5, SMALL_FORMAT));
  for (let i = 0; i < hb.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const bad = hb.slice();
      bad[i] ^= bit;
      assertEquals(decodeFrameHeader(bad), undefined, `byte ${i} bit ${bit}`);
    }
  }
});

Deno.test("the parser returns the same frames however the stream is chunked", () => {
  const wire = wireStream(SMALL_FORMAT, 10, 6);
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (const maxChunk of [1, 7, 129, 4096, 200_000]) {
    const parser = new FrameStreamParser();
    const items = [];
    // One-byte chunks over the whole stream are slow; use them for the first frames only.
    const limit = maxChunk === 1 ? 20_000 : wire.length;
    let off = 0;
    while (off < limit) {
      const n = Math.max(1, Math.floor(rand() * maxChunk));
      items.push(...parser.feed(wire.subarray(off, Math.min(off + n, limit))));
      off += n;
    }
    items.push(...parser.feed(wire.subarray(Math.min(off, wire.length))));
    assertEquals(items[0].type, "stream", `chunk ${maxChunk}`);
    const frames = framesOf(items);
    assertEquals(frames.map((f) => f.header.frameNumber), [10, 11, 12, 13, 14, 15]);
    assert(frames.every((f) => frameIsIntact(f)), "frames intact");
    assertEquals(parser.skippedBytes, 0);
  }
});

Deno.test("a stream cut at any byte of the first frame resumes at the next frame", () => {
  const frameBytes = FRAME_HEADER_SIZE + 16 * 8 * 3 / 2 + samplesForFrame(0, TINY) * 2;
  const wire = wireStream(TINY, 0, 4);
  const firstFrameAt = STREAM_HEADER_SIZE;
  for (let cut = 1; cut < firstFrameAt + frameBytes; cut++) {
    const parser = new FrameStreamParser();
    const frames = framesOf(parser.feed(wire.subarray(cut)));
    const expectedFirst = cut <= firstFrameAt ? 0 : 1;
    assertEquals(
      frames.map((f) => f.header.frameNumber),
      [0, 1, 2, 3].slice(expectedFirst),
      `cut at ${cut}`,
    );
    assert(frames.every((f) => frameIsIntact(f, TINY)), `intact after cut at ${cut}`);
    assertEquals(
      parser.skippedBytes,
      cut <= firstFrameAt ? firstFrameAt - cut : firstFrameAt +
        frameBytes - cut,
    );
  }
});

Deno.test("the parser skips garbage and false sync words with bad CRCs", () => {
  const fake = encodeFrameHeader(headerFor(99, SMALL_FORMAT));
  fake[20] ^= 0xff; // Valid magic and length, wrong CRC.
  const garbage = new Uint8Array(1000).map((_, i) => (i * 37) & 0xff);
  garbage.set(new TextEncoder().encode("RVFRRVFSRVF"), 100);
  const wire = wireStream(SMALL_FORMAT, 3, 2);
  const parser = new FrameStreamParser();
  const items = [
    ...parser.feed(garbage),
    ...parser.feed(fake),
    ...parser.feed(wire.subarray(STREAM_HEADER_SIZE)),
  ];
  const frames = framesOf(items);
  assertEquals(frames.map((f) => f.header.frameNumber), [3, 4]);
  assert(frames.every((f) => frameIsIntact(f)), "frames intact");
  assertEquals(parser.skippedBytes, garbage.length + fake.length);
  assert(parser.rejectedHeaders >= 1, "the fake header was rejected");
});

Deno.test("a late joiner cut inside a payload that contains a sync word still recovers", () => {
  // Frame 0's Y plane carries a whole valid-looking header of frame 500 (a trap).
  const fmt = TINY;
  const trap = encodeFrameHeader(headerFor(500, fmt));
  trap[trap.length - 1] ^= 1;
  const f0 = makeFrame(0, fmt);
  f0.video.set(trap.subarray(0, 100), 10);
  const f1 = makeFrame(1, fmt);
  const wire = new Uint8Array([
    ...encodeFrameHeader(headerFor(0, fmt)),
    ...f0.video,
    ...new Uint8Array(f0.audio.buffer),
    ...encodeFrameHeader(headerFor(1, fmt)),
    ...f1.video,
    ...new Uint8Array(f1.audio.buffer),
  ]);
  const parser = new FrameStreamParser();
  const frames = framesOf(parser.feed(wire.subarray(FRAME_HEADER_SIZE + 5)));
  assertEquals(frames.map((f) => f.header.frameNumber), [1]);
  assert(frameIsIntact(frames[0], fmt));
});
