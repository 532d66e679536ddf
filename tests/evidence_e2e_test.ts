/**
 * The as-run evidence stream end to end: tests/grpc_client/e2e_evidence.py drives the real
 * engine the way Core does while an independent receiver (evidence_receiver.py, Python grpcio,
 * written from the spec) plays Core's evidence server: a mixed session whose as-run frame
 * counts must equal the colour runs of the TS, the receiver killed and restarted mid-session,
 * the engine SIGKILLed and restarted on its state directory (spool replay, a torn line), a
 * mid-block join, and the per-channel spool cap with Core down. The test fails with the
 * scenario's failed checks listed.
 */

import { assert } from "./assert.ts";
import { generateStubs, PythonClientError, runPython } from "./grpc_client/python_runner.ts";

interface ScenarioReport {
  scenario: string;
  ok: boolean;
  checks: { check: string; ok: boolean; detail: unknown }[];
  values: Record<string, unknown>;
}

Deno.test("evidence e2e: mixed session, receiver restart, engine SIGKILL, join, spool cap", async () => {
  const stubs = await generateStubs();
  const workdir = await Deno.makeTempDir({ prefix: "evidence_e2e_" });
  let keep = false;
  try {
    let stdout: string;
    try {
      stdout = await runPython("e2e_evidence.py", [stubs, Deno.execPath(), workdir]);
    } catch (err) {
      if (!(err instanceof PythonClientError) || err.stdout.trim() === "") throw err;
      stdout = err.stdout;
    }
    const report = JSON.parse(stdout) as ScenarioReport;
    console.log(`${report.scenario}: ${JSON.stringify(report.values).slice(0, 4000)}`);
    const failed = report.checks.filter((c) => !c.ok);
    keep = !report.ok && Deno.env.get("KEEP_EVIDENCE_E2E") === "1";
    assert(
      report.ok,
      `${report.scenario} failed (workdir ${workdir}):\n` +
        failed.map((c) => `  - ${c.check}: ${JSON.stringify(c.detail)}`).join("\n"),
    );
  } finally {
    if (!keep) await Deno.remove(workdir, { recursive: true });
    await Deno.remove(stubs, { recursive: true });
  }
});
