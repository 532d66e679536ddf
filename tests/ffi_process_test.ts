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
