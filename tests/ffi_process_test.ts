/**
 * Thread priority from ffi/process.ts: a thread lowers its own priority, and only its own.
 */

import { assert, assertEquals } from "./assert.ts";
import { processControls } from "../ffi/process.ts";

/** Nice value of the calling thread, as the kernel reports it. */
function threadNice(): number {
  const stat = Deno.readTextFileSync("/proc/thread-self/stat");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
}

Deno.test("setThreadNice lowers the calling thread only; bad values are refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/nice_worker.ts`;
    await Deno.writeTextFile(
      script,
      `import { processControls } from ${
        JSON.stringify(new URL("../ffi/process.ts", import.meta.url).href)
      };
const nice = () => { const s = Deno.readTextFileSync("/proc/thread-self/stat"); return Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[16]); };
const before = nice();
processControls().setThreadNice(7);
self.postMessage({ before, after: nice() });
`,
    );
    const mainBefore = threadNice();
    const worker = new Worker(new URL(`file://${script}`).href, { type: "module" });
    const seen = await new Promise<{ before: number; after: number }>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(e);
    });
    worker.terminate();
    assertEquals(seen.after, 7);
    assertEquals(seen.before, mainBefore);
    assertEquals(threadNice(), mainBefore); // the main thread is untouched
    for (const bad of [20, 1.5, -21]) {
      let err: unknown;
      try {
        processControls().setThreadNice(bad);
      } catch (e) {
        err = e;
      }
      assert(err instanceof RangeError && err.message.includes(String(bad)), `${bad}: ${err}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("setHeapMapThreshold decides which allocations get their own mapping", async () => {
  // In a process of its own: the threshold holds for the whole process from then on.
  const script = `import { processControls } from ${
    JSON.stringify(new URL("../ffi/process.ts", import.meta.url).href)
  };
const c = processControls();
const kept = [];
const mappedFor = (threshold) => {
  c.setHeapMapThreshold(threshold);
  const before = c.heapStats().mappedBytes;
  kept.push(new Uint8Array(512 << 10).fill(1));
  return c.heapStats().mappedBytes - before;
};
const refused = [];
for (const bad of [100, 64 << 20, 1.5]) {
  try { c.setHeapMapThreshold(bad); } catch (e) { refused.push(e instanceof RangeError && e.message.includes(String(bad))); }
}
console.log(JSON.stringify({ above: mappedFor(1 << 20), below: mappedFor(256 << 10), refused }));
`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=js", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert(out.success, stderr);
  const seen = JSON.parse(new TextDecoder().decode(out.stdout));
  // A 512 KiB buffer under a 1 MiB threshold comes from the heap; over 256 KiB, it is mapped.
  assert(seen.above < 512 << 10, `mapped ${seen.above} bytes under a 1 MiB threshold`);
  assert(seen.below >= 512 << 10, `mapped ${seen.below} bytes over a 256 KiB threshold`);
  assertEquals(seen.refused, [true, true, true]);
});
