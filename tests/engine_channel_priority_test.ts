/**
 * A channel's threads — its Worker thread and the x264 threads it started — found by the name
 * they inherit, lowered together while the channel is degraded and its pictures cost more CPU
 * than its frame rate allows, left alone while it is degraded but spends little per picture
 * (starved by others), and restored on recovery. Read by this test from
 * /proc/self/task/<tid>/stat and /comm (the Worker is a thread of this process).
 */

import { assert, assertEquals } from "./assert.ts";
import { CHANNEL_NICE, DEGRADED_NICE } from "../src/engine/channel_priority.ts";

const WORKER = `
import { ChannelPriority } from ${
  JSON.stringify(new URL("../src/engine/channel_priority.ts", import.meta.url).href)
};
import { VideoEncoder } from ${JSON.stringify(new URL("../ffi/mod.ts", import.meta.url).href)};
const logs = [];
const priority = new ChannelPriority(77, (level, event, fields) => logs.push({ level, event, fields }), { warmup: 0, streak: 1 });
const open = () => new VideoEncoder({ codec: "libx264", width: 320, height: 180,
  frameRate: { num: 25, den: 1 }, preset: "veryfast", keyint: 50, threads: 2 });
const encoders = [open()];
const picture = new Uint8Array(encoders[0].frameSize);
let k = 0;
priority.observe({ degraded: false, pictures: 0, frameRate: 25 });
const reply = (step) => self.postMessage({ step, tids: priority.threads(), lowered: priority.lowered, logs: logs.splice(0) });
self.onmessage = async (e) => {
  const step = e.data;
  if (step === "starved") {
    // Degraded, a few pictures aired, little CPU spent on each: starved by others.
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < 3; i++) { picture.fill(k & 255); encoders[0].encode(picture, k++); }
    priority.observe({ degraded: true, pictures: k, frameRate: 25 });
  } else if (step === "busy") {
    // Degraded, its pictures' CPU at 10000 pictures a second needs far more than a core.
    const t0 = performance.now();
    while (performance.now() - t0 < 1000) { picture.fill(k & 255); encoders[0].encode(picture, k++); }
    priority.observe({ degraded: true, pictures: k, frameRate: 10000 }, Infinity);
    encoders.push(open()); // started while lowered: its threads inherit the lower priority
  } else if (step === "recovered") {
    priority.observe({ degraded: false, pictures: k, frameRate: 25 });
  } else if (step === "close") {
    for (const enc of encoders) enc.close();
  }
  reply(step);
};
reply("init");
`;

interface Reply {
  step: string;
  tids: number[];
  lowered: boolean;
  logs: { level: string; event: string; fields: Record<string, unknown> }[];
  error?: string;
}

function stat(tid: number): { comm: string; nice: number } {
  const s = Deno.readTextFileSync(`/proc/self/task/${tid}/stat`);
  return {
    comm: s.slice(s.indexOf("(") + 1, s.lastIndexOf(")")),
    nice: Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[16]),
  };
}

/** Threads of this process named `name` and their nice values, read here, not by the worker. */
function named(name: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of Deno.readDirSync("/proc/self/task")) {
    try {
      const s = stat(Number(e.name));
      if (s.comm === name) out.set(Number(e.name), s.nice);
    } catch {
      // the thread ended while listed
    }
  }
  return out;
}

Deno.test("a degraded, busy channel's threads drop to the degraded nice together (new ones inherit it) and come back on recovery; a degraded one spending little CPU per picture (starved by others) keeps its priority", async () => {
  const replies: Reply[] = [];
  let wake: (() => void) | undefined;
  const mainNice = stat(Number(Deno.readLinkSync("/proc/thread-self").split("/").pop())).nice;
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/channel.js`, WORKER);
  const worker = new Worker(new URL(`file://${dir}/channel.js`).href, { type: "module" });
  worker.onerror = (e) => {
    e.preventDefault();
    replies.push({ step: "error", tids: [], lowered: false, logs: [], error: e.message });
    wake?.();
  };
  worker.onmessage = (e) => {
    replies.push(e.data);
    wake?.();
  };
  const next = async (step?: string): Promise<Reply> => {
    const n = replies.length;
    if (step) worker.postMessage(step);
    while (replies.length === n) await new Promise<void>((r) => (wake = r));
    if (replies[n].error) throw new Error(`channel worker: ${replies[n].error}`);
    return replies[n];
  };
  try {
    const init = await next();
    const threads = named("rv-ch-77");
    // The worker's own thread and x264's (frame threads and lookahead) carry the name.
    assert(threads.size >= 3, `threads named rv-ch-77: ${[...threads]}`);
    assertEquals([...threads.keys()].sort((a, b) => a - b), init.tids);
    for (const [tid, nice] of threads) assertEquals(nice, CHANNEL_NICE, `thread ${tid}`);

    const starved = await next("starved");
    assert(!starved.lowered, `lowered while starved: ${JSON.stringify(starved)}`);
    for (const [tid, nice] of named("rv-ch-77")) {
      assertEquals(nice, CHANNEL_NICE, `starved: ${tid}`);
    }

    const busy = await next("busy");
    assert(busy.lowered, `not lowered: ${JSON.stringify(busy)}`);
    const lowered = named("rv-ch-77");
    assert(lowered.size > threads.size, "the second encoder's threads are there");
    for (const [tid, nice] of lowered) assertEquals(nice, DEGRADED_NICE, `busy: ${tid}`);
    const changed = busy.logs.find((l) => l.event === "channel_priority_changed");
    assertEquals(changed?.fields.nice, DEGRADED_NICE);
    assertEquals(changed?.fields.threads, threads.size);
    assert(Number(changed?.fields.demand_cores) >= 0.75, JSON.stringify(changed));

    const back = await next("recovered");
    assert(!back.lowered);
    const restored = named("rv-ch-77");
    assertEquals(restored.size, lowered.size);
    for (const [tid, nice] of restored) assertEquals(nice, CHANNEL_NICE, `recovered: ${tid}`);
    assertEquals(back.logs.find((l) => l.event === "channel_priority_changed")?.fields.nice, 4);
    // Nothing else in the process moved.
    assertEquals(
      stat(Number(Deno.readLinkSync("/proc/thread-self").split("/").pop())).nice,
      mainNice,
    );
    await next("close");
  } finally {
    worker.terminate();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * A worker that is degraded after a second of making pictures, and says it needs 1.5 cores to
 * make all of them (the frame rate it reports is chosen from the CPU it measured it spent, so
 * the need is the same however loaded the box is), judged with a fair share of `shareCores`;
 * replies whether it was lowered.
 */
const EQUAL_WORKER = (shareCores: number, id: number) => `
import { ChannelPriority } from ${
  JSON.stringify(new URL("../src/engine/channel_priority.ts", import.meta.url).href)
};
import { ownThreadStat } from ${JSON.stringify(new URL("../ffi/process.ts", import.meta.url).href)};
const cpu = () => ownThreadStat().cpuSeconds;
const logs = [];
const priority = new ChannelPriority(${id}, (level, event, fields) => logs.push({ event, fields }), { warmup: 0, streak: 1, shareCores: ${shareCores} });
priority.observe({ degraded: false, pictures: 0, frameRate: 30 });
const cpu0 = cpu();
let pictures = 0;
const t0 = performance.now();
const buf = new Float64Array(4096);
while (performance.now() - t0 < 1000 || cpu() - cpu0 < 0.05) {
  for (let i = 0; i < buf.length; i++) buf[i] = Math.sqrt(i + pictures);
  pictures++;
}
const spent = cpu() - cpu0;
// Airing every frame's picture at this rate needs 1.5 cores.
priority.observe({ degraded: true, pictures, frameRate: (1.5 * pictures) / spent });
self.postMessage({ lowered: priority.lowered, tids: priority.threads(), logs, spent });
`;

Deno.test("a degraded channel needing 1.5 cores keeps its priority where that is about its fair share (3 times or less) and is lowered where it is 15 times its share", async () => {
  const judge = async (shareCores: number, id: number) => {
    const dir = await Deno.makeTempDir();
    await Deno.writeTextFile(`${dir}/channel.js`, EQUAL_WORKER(shareCores, id));
    const worker = new Worker(new URL(`file://${dir}/channel.js`).href, { type: "module" });
    try {
      const reply = await new Promise<
        { lowered: boolean; tids: number[]; logs: unknown[]; spent: number }
      >(
        (resolve, reject) => {
          worker.onmessage = (e) => resolve(e.data);
          worker.onerror = (e) => {
            e.preventDefault();
            reject(new Error(e.message));
          };
        },
      );
      const nices = reply.tids.map((tid) => stat(tid).nice);
      return { ...reply, nices };
    } finally {
      worker.terminate();
      await Deno.remove(dir, { recursive: true });
    }
  };
  // Three channels on two cores: each one's share is 0.67 cores (3 times: 2).
  const equal = await judge(2 / 3, 78);
  assert(!equal.lowered, `lowered among equals: ${JSON.stringify(equal)}`);
  assertEquals(equal.nices, [CHANNEL_NICE]);
  // Twenty channels on two cores: 0.1 cores each; needing 1.5 takes it from the others.
  const hog = await judge(0.1, 79);
  assert(hog.lowered, `not lowered: ${JSON.stringify(hog)}`);
  assertEquals(hog.nices, [DEGRADED_NICE]);
});
