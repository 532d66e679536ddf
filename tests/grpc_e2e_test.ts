/**
 * End to end against the real engine, driven the way RetroVue Core drives it: the Python
 * scenarios in tests/grpc_client/ spawn `deno run -A src/main.ts --port N` themselves, poll
 * GetVersion, attach a Unix socket and run the block-mode and segment-mode flows, judging the
 * TS they read with ffprobe. Each scenario prints a JSON report; the test fails with the
 * failed checks listed.
 */

import { assert } from "./assert.ts";
import { generateStubs, PythonClientError, runPython } from "./grpc_client/python_runner.ts";

interface ScenarioReport {
  scenario: string;
  ok: boolean;
  checks: { check: string; ok: boolean; detail: unknown }[];
  values: Record<string, unknown>;
}

async function scenario(script: string): Promise<void> {
  const stubs = await generateStubs();
  const workdir = await Deno.makeTempDir({ prefix: "grpc_e2e_" });
  try {
    let stdout: string;
    try {
      stdout = await runPython(script, [stubs, Deno.execPath(), workdir]);
    } catch (err) {
      if (!(err instanceof PythonClientError) || err.stdout.trim() === "") throw err;
      stdout = err.stdout;
    }
    const report = JSON.parse(stdout) as ScenarioReport;
    console.log(`${report.scenario}: ${JSON.stringify(report.values)}`);
    const failed = report.checks.filter((c) => !c.ok);
    assert(
      report.ok,
      `${report.scenario} failed:\n` +
        failed.map((c) => `  - ${c.check}: ${JSON.stringify(c.detail)}`).join("\n"),
    );
  } finally {
    await Deno.remove(workdir, { recursive: true });
    await Deno.remove(stubs, { recursive: true });
  }
}

Deno.test("e2e block mode: Core's flow (attach, two blocks, feed on events, stop)", async () => {
  await scenario("e2e_block_session.py");
});

Deno.test("e2e segment mode: StartChannel, LoadPreview, AttachStream, SwitchToLive 6 s ahead", async () => {
  await scenario("e2e_segment_switch.py");
});
