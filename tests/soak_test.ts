/**
 * A few minutes of the soak (tests/soak.ts) in CI: the real channel engine on the virtual
 * clock through every kind of source, judged by the soak's own TS reader — 0 CC errors, 0 PTS
 * gaps, A/V offset under a frame at the end, native memory flat. Runs in a child process so
 * malloc counts only the soak.
 */

import { assert, assertEquals } from "./assert.ts";
import { judgeSoak, type SoakReport } from "./soak.ts";

Deno.test("soak, 6 minutes of channel time: every source kind, 0 CC errors, 0 PTS gaps, A/V in step, memory flat", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--expose-gc",
      new URL("./soak.ts", import.meta.url).pathname,
      "--minutes",
      "6",
      "--json",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert(text.length > 0, new TextDecoder().decode(out.stderr));
  const { report } = JSON.parse(text) as { report: SoakReport; failed: string[] };
  // Every kind of source was scheduled, and the unplayable ones were reported.
  assertEquals(Object.keys(report.sources).length, 14, JSON.stringify(report.sources));
  assert(report.assetErrors >= 3, `${report.assetErrors} asset errors`);
  assert(report.frames >= 6 * 60 * 29.97 - 1, `${report.frames} frames`);
  // Each frame's video and its audio are in the TS.
  assertEquals(report.videoPes, report.frames);
  assertEquals(judgeSoak(report, 30), []);
  assertEquals(out.code, 0);
});
