/**
 * A channel worker's TS reaches the main thread in batches (src/engine/_ts_batch.ts): the
 * bytes are those pushed, in order, joined `maxChunks` at a time or sent once the oldest has
 * waited `maxDelayMs`, and a flush sends what is held at once; a send failing from the timer
 * is reported, not thrown into the event loop.
 */

import { assert, assertEquals } from "./assert.ts";
import { TsBatch } from "../src/engine/_ts_batch.ts";

function chunk(fill: number, packets: number): Uint8Array {
  const c = new Uint8Array(188 * packets).fill(fill);
  for (let o = 0; o < c.length; o += 188) c[o] = 0x47;
  return c;
}

Deno.test("TS chunks are joined three at a time, bytes and order kept", () => {
  const sent: Uint8Array[] = [];
  const batch = new TsBatch((d) => sent.push(d), 3, 1000, (e) => {
    throw e;
  });
  const chunks = [chunk(1, 2), chunk(2, 1), chunk(3, 4), chunk(4, 1), chunk(5, 3), chunk(6, 2)];
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  for (const c of chunks) batch.push(c);
  assertEquals(sent.map((s) => s.length), [188 * 7, 188 * 6]);
  const joined = new Uint8Array(sent[0].length + sent[1].length);
  joined.set(sent[0]);
  joined.set(sent[1], sent[0].length);
  assertEquals(joined, all);
  batch.push(new Uint8Array(0));
  batch.flush();
  assertEquals(sent.length, 2, "an empty chunk and an empty flush send nothing");
});

Deno.test("a lone chunk goes after maxDelayMs, or at once on flush", async () => {
  const sent: Uint8Array[] = [];
  const batch = new TsBatch((d) => sent.push(d), 3, 30, (e) => {
    throw e;
  });
  const one = chunk(9, 2);
  batch.push(one);
  assertEquals(sent.length, 0);
  await new Promise((r) => setTimeout(r, 120));
  assertEquals(sent.length, 1, "the timer sent the held chunk");
  assert(sent[0] === one, "a single chunk goes as it is, not copied");
  batch.push(chunk(7, 1));
  batch.push(chunk(8, 1));
  batch.flush();
  assertEquals(sent.length, 2);
  assertEquals([sent[1][1], sent[1][189]], [7, 8]);
  // Nothing left to send, and no timer left behind (the test's sanitizer checks that).
});

Deno.test("a send that throws from the timer goes to onLateError; from push, to the caller", async () => {
  const late: unknown[] = [];
  const batch = new TsBatch(
    () => {
      throw new Error("output failed");
    },
    2,
    20,
    (e) => late.push(e),
  );
  batch.push(chunk(1, 1));
  await new Promise((r) => setTimeout(r, 100));
  assertEquals(late.map((e) => (e as Error).message), ["output failed"]);
  batch.push(chunk(2, 1));
  let thrown: unknown;
  try {
    batch.push(chunk(3, 1));
  } catch (e) {
    thrown = e;
  }
  assertEquals((thrown as Error | undefined)?.message, "output failed");
  assertEquals(late.length, 1);
});
