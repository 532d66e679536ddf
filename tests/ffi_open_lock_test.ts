/**
 * The process-wide FFmpeg open lock (ffi/open_lock.ts): workers that share it never run their
 * critical sections at once; many workers opening and closing demuxers, decoders and encoders
 * through ffi/ at once all succeed, every open goes through the lock, and it is free at the
 * end; a worker terminated while holding it can be released by its creator.
 */
import { assert, assertEquals } from "./assert.ts";
import { fixture } from "./fixtures.ts";
import { openLockBuffer, releaseOpenLockOf } from "../ffi/mod.ts";
import {
  OPEN_LOCK_WAIT_LIMIT_MS,
  openLockStats,
  setOpenLockWaitLimit,
  withOpenLock,
} from "../ffi/open_lock.ts";

const MOD = new URL("../ffi/mod.ts", import.meta.url).href;
const LOCK = new URL("../ffi/open_lock.ts", import.meta.url).href;

function start(code: string): { worker: Worker; url: string } {
  const url = URL.createObjectURL(new Blob([code], { type: "application/javascript" }));
  return { worker: new Worker(url, { type: "module" }), url };
}

function next(worker: Worker, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const onMessage = (e: MessageEvent) => {
      if (e.data.type === "error") reject(new Error(e.data.message));
      if (e.data.type !== type) return;
      worker.removeEventListener("message", onMessage);
      resolve(e.data);
    };
    worker.addEventListener("message", onMessage);
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
  });
}

/** Resolves once `n` threads are blocked waiting for the lock (each wake finds it still held). */
async function waitersBlocked(n: number): Promise<void> {
  const cell = new Int32Array(openLockBuffer());
  for (;;) {
    if (Atomics.notify(cell, 0) >= n) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A worker that takes the shared lock and keeps it until `gate[0]` becomes 1. */
const HOLDER = `
import { shareOpenLock } from "${MOD}";
import { withOpenLock } from "${LOCK}";
self.onmessage = (e) => {
  const { lock, owner, gate } = e.data;
  shareOpenLock(lock, owner);
  const g = new Int32Array(gate);
  withOpenLock(() => {
    self.postMessage({ type: "holding" });
    while (Atomics.load(g, 0) === 0) Atomics.wait(g, 0, 0);
  });
  self.postMessage({ type: "released" });
};
`;

Deno.test("threads sharing the open lock never overlap inside it", async () => {
  const code = `
import { shareOpenLock } from "${MOD}";
import { withOpenLock } from "${LOCK}";
self.onmessage = (e) => {
  const { lock, owner, inside, rounds } = e.data;
  shareOpenLock(lock, owner);
  const count = new Int32Array(inside);
  let overlaps = 0;
  for (let i = 0; i < rounds; i++) {
    withOpenLock(() => {
      if (Atomics.add(count, 0, 1) !== 0) overlaps++;
      let x = 0;
      for (let j = 0; j < 20000; j++) x += j;
      if (x < 0) overlaps++;
      Atomics.sub(count, 0, 1);
    });
  }
  self.postMessage({ type: "done", overlaps });
};`;
  const inside = new SharedArrayBuffer(4);
  const gate = new SharedArrayBuffer(4);
  const holder = start(HOLDER);
  const workers = Array.from({ length: 4 }, () => start(code));
  try {
    // The holder has the lock first, so every worker starts by waiting for it.
    const holding = next(holder.worker, "holding");
    holder.worker.postMessage({ lock: openLockBuffer(), owner: 2, gate });
    await holding;
    const done = workers.map(({ worker }) => next(worker, "done"));
    workers.forEach(({ worker }, i) =>
      worker.postMessage({ lock: openLockBuffer(), owner: 10 + i, inside, rounds: 300 })
    );
    await waitersBlocked(workers.length);
    Atomics.store(new Int32Array(gate), 0, 1);
    Atomics.notify(new Int32Array(gate), 0);
    const results = await Promise.all(done);
    assertEquals(results.map((r) => r.overlaps), [0, 0, 0, 0]);
    assertEquals(new Int32Array(openLockBuffer())[0], 0, "lock is free at the end");
  } finally {
    for (const w of [holder, ...workers]) {
      w.worker.terminate();
      URL.revokeObjectURL(w.url);
    }
  }
});

Deno.test("many workers opening and closing demuxers, decoders and encoders at once", async () => {
  const path = await fixture("h264_aac_mp4");
  const code = `
import { AudioEncoder, Decoder, Demuxer, shareOpenLock, VideoEncoder } from "${MOD}";
import { openLockStats } from "${LOCK}";
self.onmessage = (e) => {
  const { lock, owner, path, cycles } = e.data;
  shareOpenLock(lock, owner);
  try {
    let decoded = 0;
    for (let i = 0; i < cycles; i++) {
      const d = Demuxer.open(path);
      const v = Decoder.open(d, d.bestStream("video"), { threads: 2 });
      const a = Decoder.open(d, d.bestStream("audio"));
      const ve = new VideoEncoder({ codec: i % 2 ? "mpeg2video" : "libx264", width: 320,
        height: 240, frameRate: { num: 25, den: 1 }, keyint: 25, threads: 2 });
      const ae = new AudioEncoder({ codec: i % 2 ? "mp2" : "aac", sampleRate: 48000,
        channels: 2, bitrateKbps: 128 });
      // Use what was opened, so a broken open shows up as a decode failure.
      for (let p = d.read(); p && decoded < (i + 1) * 3; p = d.read()) {
        if (p.streamIndex === v.streamIndex) {
          v.send(p);
          for (let f = v.receive(); f; f = v.receive()) { decoded++; f.free(); }
        }
        p.free();
      }
      ae.close(); ve.close(); a.close(); v.close(); d.close();
    }
    self.postMessage({ type: "done", decoded, ...openLockStats() });
  } catch (err) {
    self.postMessage({ type: "error", message: String(err?.stack ?? err) });
  }
};`;
  const gate = new SharedArrayBuffer(4);
  const holder = start(HOLDER);
  const workers = Array.from({ length: 6 }, () => start(code));
  const cycles = 8;
  try {
    const holding = next(holder.worker, "holding");
    holder.worker.postMessage({ lock: openLockBuffer(), owner: 2, gate });
    await holding;
    const done = workers.map(({ worker }) => next(worker, "done"));
    workers.forEach(({ worker }, i) =>
      worker.postMessage({ lock: openLockBuffer(), owner: 10 + i, path, cycles })
    );
    // Every worker is blocked on its first open before any open runs: they all start together.
    await waitersBlocked(workers.length);
    Atomics.store(new Int32Array(gate), 0, 1);
    Atomics.notify(new Int32Array(gate), 0);
    const results = await Promise.all(done);
    for (const r of results) {
      // One demuxer, two decoders and two encoders opened per cycle, each under the lock.
      assertEquals(r.acquisitions, cycles * 5);
      assert((r.contended as number) >= 1, `worker never waited: ${JSON.stringify(r)}`);
      assert((r.decoded as number) >= cycles * 3, `decoded ${r.decoded}`);
    }
    const contended = results.reduce((n, r) => n + (r.contended as number), 0);
    console.log(`${workers.length} workers x ${cycles} cycles: ${contended} waits for the lock`);
    assertEquals(new Int32Array(openLockBuffer())[0], 0, "lock is free at the end");
  } finally {
    for (const w of [holder, ...workers]) {
      w.worker.terminate();
      URL.revokeObjectURL(w.url);
    }
  }
});

Deno.test("a worker terminated while holding the lock is released by its owner id", async () => {
  const holder = start(HOLDER);
  try {
    const holding = next(holder.worker, "holding");
    holder.worker.postMessage({ lock: openLockBuffer(), owner: 7, gate: new SharedArrayBuffer(4) });
    await holding;
    holder.worker.terminate();
    assertEquals(new Int32Array(openLockBuffer())[0], 7, "the dead worker still holds it");
    assertEquals(releaseOpenLockOf(8), false, "another owner id releases nothing");
    assertEquals(releaseOpenLockOf(7), true);
    const before = openLockStats().acquisitions;
    assertEquals(withOpenLock(() => "taken"), "taken");
    assertEquals(openLockStats().acquisitions, before + 1);
    assertEquals(new Int32Array(openLockBuffer())[0], 0);
  } finally {
    URL.revokeObjectURL(holder.url);
  }
});

Deno.test("a holder stuck past the wait limit does not stall others: they open without the lock", async () => {
  const holder = start(HOLDER);
  const gate = new SharedArrayBuffer(4);
  setOpenLockWaitLimit(300);
  try {
    const holding = next(holder.worker, "holding");
    holder.worker.postMessage({ lock: openLockBuffer(), owner: 9, gate });
    await holding; // it now holds the lock and does not let go (stuck in I/O, say)
    const before = openLockStats();
    assertEquals(withOpenLock(() => "opened anyway"), "opened anyway");
    const after = openLockStats();
    assertEquals(after.bypassed, before.bypassed + 1);
    assertEquals(after.acquisitions, before.acquisitions, "not counted as taken");
    assertEquals(new Int32Array(openLockBuffer())[0], 9, "the stuck holder still holds it");
    // Once the holder lets go, the lock is taken normally again.
    const released = next(holder.worker, "released");
    Atomics.store(new Int32Array(gate), 0, 1);
    Atomics.notify(new Int32Array(gate), 0);
    await released;
    assertEquals(withOpenLock(() => new Int32Array(openLockBuffer())[0]), 1, "held by this thread");
    assertEquals(openLockStats().acquisitions, after.acquisitions + 1);
    assertEquals(new Int32Array(openLockBuffer())[0], 0);
  } finally {
    setOpenLockWaitLimit(OPEN_LOCK_WAIT_LIMIT_MS);
    holder.worker.terminate();
    URL.revokeObjectURL(holder.url);
  }
});

Deno.test("a retired owner (a terminated worker that runs on) never takes the lock again", async () => {
  const code = `
import { shareOpenLock } from "${MOD}";
import { withOpenLock } from "${LOCK}";
self.onmessage = (e) => {
  shareOpenLock(e.data.lock, e.data.owner);
  try {
    withOpenLock(() => {});
    self.postMessage({ type: "tried", took: true });
  } catch (err) {
    self.postMessage({ type: "tried", took: false, name: err.name, message: err.message });
  }
};
`;
  const w = start(code);
  try {
    assertEquals(releaseOpenLockOf(41), false, "retired while not holding the lock");
    const tried = next(w.worker, "tried");
    w.worker.postMessage({ lock: openLockBuffer(), owner: 41 });
    const r = await tried;
    assertEquals([r.took, r.name], [false, "FfmpegClosedError"]);
    assert(String(r.message).includes("owner 41"), String(r.message));
    assertEquals(new Int32Array(openLockBuffer())[0], 0, "the lock stays free");
    assertEquals(withOpenLock(() => "others still take it"), "others still take it");
  } finally {
    w.worker.terminate();
    URL.revokeObjectURL(w.url);
  }
});
