/**
 * Decode skipping in frame-rate down-conversion: with it, a 60 → 30 (or 59.94 → 29.97) file
 * producer decodes fewer source pictures and shows exactly the same ones, byte for byte.
 * And the loop-filter skip (`skip_loop_filter`): what each setting changes in the pictures.
 */

import { assert, assertEquals } from "./assert.ts";
import { ffprobe, fixture, type FixtureName, frameNumberFromI420 } from "./fixtures.ts";
import { FileProducer } from "../src/engine/producers/file_producer.ts";
import type { ProgramFormat } from "../media/program_format.ts";
import type { Rational } from "../media/rational.ts";
import { type LoopFilterSkip, loopFilterSkipFor } from "../media/channel_spec.ts";
import { Demuxer } from "../ffi/mod.ts";

function format(frameRate: Rational): ProgramFormat {
  return {
    width: 320,
    height: 240,
    frameRate,
    sampleRate: 48000,
    channels: 2,
    aspectPolicy: "preserve",
  };
}

/** Every picture a producer gives until its video ends, and what it decoded. */
function play(path: string, fmt: ProgramFormat, inPointSeconds: number, skip: boolean) {
  const p = new FileProducer(path, fmt, { inPointSeconds, skipHiddenFrames: skip, threads: 1 });
  try {
    const pictures: Uint8Array[] = [];
    // Until the clip's 3 s are played (a picture may be missing at the start: a late source).
    const frames = Math.floor(((3 - inPointSeconds) * fmt.frameRate.num) / fmt.frameRate.den) - 1;
    for (let k = 0; k < frames; k++) {
      const picture = p.nextVideo({ frameNumber: k, dueUtcMs: 0 });
      if (picture) pictures.push(picture.slice());
      p.nextAudio(1600);
    }
    return { pictures, decoded: p.counters.decoded, errors: p.counters.decodeErrors };
  } finally {
    p.close();
  }
}

/** Source pictures in the file (packets of its video stream). */
function sourcePictures(path: string): number {
  using d = Demuxer.open(path);
  const video = d.bestStream("video");
  let n = 0;
  for (let pkt = d.read(); pkt !== null; pkt = d.read()) {
    if (pkt.streamIndex === video) n++;
    pkt.free();
  }
  return n;
}

const CASES: { name: FixtureName; rate: Rational; inPoint: number }[] = [
  { name: "frame_counter_60", rate: { num: 30, den: 1 }, inPoint: 0 },
  { name: "frame_counter_60", rate: { num: 30, den: 1 }, inPoint: 0.75 },
  { name: "frame_counter_60", rate: { num: 25, den: 1 }, inPoint: 0 },
  { name: "frame_counter_5994_mkv", rate: { num: 30000, den: 1001 }, inPoint: 0 },
  { name: "frame_counter_5994_mkv", rate: { num: 30000, den: 1001 }, inPoint: 1.3 },
];

for (const c of CASES) {
  Deno.test(
    `decode skipping: ${c.name} → ${c.rate.num}/${c.rate.den} from ${c.inPoint} s shows the same pictures, decodes fewer`,
    async () => {
      const path = await fixture(c.name);
      const fmt = format(c.rate);
      const all = play(path, fmt, c.inPoint, false);
      const skipped = play(path, fmt, c.inPoint, true);
      assertEquals(all.errors, 0);
      assertEquals(skipped.errors, 0);
      // The same pictures, in the same order, byte for byte.
      assertEquals(skipped.pictures.length, all.pictures.length);
      const numbers = all.pictures.map((y) => frameNumberFromI420(y, 320, 240));
      assertEquals(skipped.pictures.map((y) => frameNumberFromI420(y, 320, 240)), numbers);
      for (let i = 0; i < all.pictures.length; i++) {
        assert(
          skipped.pictures[i].every((v, j) => v === all.pictures[i][j]),
          `picture ${i} (source frame ${numbers[i]}) differs`,
        );
      }
      // Pictures move on: about one source frame in two (or 12 in 5) is shown, none twice.
      assert(numbers.every((n, i) => i === 0 || n > numbers[i - 1]), `${numbers}`);
      // Without skipping every source picture from the in-point's keyframe on is decoded; with
      // it, the non-reference pictures nobody sees are not (how many of the hidden pictures
      // are non-reference depends on x264's B-frame placement against the output's phase).
      assert(all.decoded >= sourcePictures(path) - Math.ceil(c.inPoint * 60) - 60);
      assert(
        skipped.decoded < all.decoded,
        `decoded ${skipped.decoded} with skipping, ${all.decoded} without`,
      );
    },
  );
}

Deno.test("decode skipping is off when the source is not faster than the program", async () => {
  const path = await fixture("frame_counter"); // 25 fps into 30
  const fmt = format({ num: 30, den: 1 });
  const on = play(path, fmt, 0, true);
  const off = play(path, fmt, 0, false);
  assertEquals(on.decoded, off.decoded);
  assertEquals(on.decoded, sourcePictures(path));
});

/** Pictures of the 60 fps clip played at 60 fps and `size`, deblocking skipped per `skip`. */
async function deblocked(skip: LoopFilterSkip, size = { width: 320, height: 240 }) {
  const path = await fixture("frame_counter_60");
  const fmt = { ...format({ num: 60, den: 1 }), ...size };
  const p = new FileProducer(path, fmt, { skipLoopFilter: skip, threads: 1 });
  try {
    const pictures: Uint8Array[] = [];
    for (let k = 0; k < 170; k++) {
      const picture = p.nextVideo({ frameNumber: k, dueUtcMs: 0 });
      if (picture) pictures.push(picture.slice());
      p.nextAudio(800);
    }
    return pictures;
  } finally {
    p.close();
  }
}

function differing(a: Uint8Array[], b: Uint8Array[]): number[] {
  assertEquals(a.length, b.length);
  return a.flatMap((x, i) => (x.every((v, j) => v === b[i][j]) ? [] : [i]));
}

Deno.test("skip_loop_filter: nonref changes only some pictures, bidir only B-pictures, all more, the IDR keeps its own", async () => {
  const full = await deblocked("none");
  assert(full.length > 160, `${full.length} pictures`);
  // The program is the source's size: auto deblocks everything.
  assertEquals(differing(await deblocked("auto"), full), []);
  const nonref = differing(await deblocked("nonref"), full);
  const all = differing(await deblocked("all"), full);
  assert(nonref.length > 0, "nonref changed no picture");
  assert(!nonref.includes(0), "nonref changed the first picture (an IDR, a reference)");
  assert(nonref.length < full.length / 2 + 1, `nonref changed ${nonref.length} pictures`);
  assert(all.length > nonref.length, `all changed ${all.length}, nonref ${nonref.length}`);
  // bidir: every B-picture (ffprobe says which), so the non-reference ones and the B-pyramid's
  // referenced ones; never an I- or P-picture.
  const bidir = differing(await deblocked("bidir"), full);
  const types = ((await ffprobe(await fixture("frame_counter_60"), [
    "-select_streams",
    "v:0",
    "-show_entries",
    "frame=pict_type",
  ])).frames as { pict_type: string }[]).map((f) => f.pict_type);
  const notB = bidir.filter((i) => types[i] !== "B");
  assertEquals(notB, [], `bidir changed pictures that are not B: ${notB.map((i) => types[i])}`);
  assert(nonref.every((i) => bidir.includes(i)), "a picture nonref changed, bidir did not");
  assert(bidir.length > nonref.length, `bidir changed ${bidir.length}, nonref ${nonref.length}`);
  assert(all.length > bidir.length, `all changed ${all.length}, bidir ${bidir.length}`);
  // Half the size: auto is nonref.
  const half = { width: 160, height: 120 };
  assertEquals(await deblocked("auto", half), await deblocked("nonref", half));
  assert(differing(await deblocked("auto", half), await deblocked("none", half)).length > 0);
});

Deno.test("skip_loop_filter auto: nonref only when the program is at most two thirds of the source", () => {
  const hd = { width: 1920, height: 1080 };
  assertEquals(loopFilterSkipFor("auto", hd, { width: 854, height: 480 }), "nonref");
  assertEquals(loopFilterSkipFor("auto", hd, { width: 960, height: 540 }), "nonref");
  assertEquals(loopFilterSkipFor("auto", hd, { width: 1280, height: 720 }), "nonref");
  assertEquals(loopFilterSkipFor("auto", hd, { width: 960, height: 720 }), "nonref");
  // 854 is 2/3 of 1280 to the pixel (853.3).
  assertEquals(
    loopFilterSkipFor("auto", { width: 1280, height: 720 }, { width: 854, height: 480 }),
    "nonref",
  );
  assertEquals(loopFilterSkipFor("auto", hd, { width: 1281, height: 720 }), "none");
  assertEquals(loopFilterSkipFor("auto", hd, { width: 1280, height: 721 }), "none");
  assertEquals(loopFilterSkipFor("auto", hd, { width: 1440, height: 1080 }), "none");
  assertEquals(loopFilterSkipFor("auto", hd, { width: 1920, height: 1080 }), "none");
  assertEquals(loopFilterSkipFor("all", hd, { width: 1920, height: 1080 }), "all");
  assertEquals(loopFilterSkipFor("none", hd, { width: 640, height: 360 }), "none");
});
