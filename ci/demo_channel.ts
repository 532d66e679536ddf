/**
 * Starts the engine's embedded default in a root, in the root's own network namespace, reads
 * the demo channel's TS over HTTP from the host (entering only that network namespace), and
 * judges the capture on the host.
 *
 * @module
 */

import { type Root } from "./root.ts";
import { describe, judgeTs, problems, type TsVerdict } from "./ts_judge.ts";

/** Seconds of the demo channel read. */
export const CAPTURE_S = 10;
/** Most seconds to wait for the engine to log its channel URL. */
const START_TIMEOUT_S = 180;

/** Result of one demo-channel run. */
export interface DemoResult {
  /** Seconds from spawn to the engine logging its channel URL. */
  startS: number;
  url: string;
  verdict: TsVerdict;
  /** Problems found (empty when the channel is good). */
  problems: string[];
  summary: string;
}

/**
 * Runs `shellCommand` (e.g. the README's first command) with `/bin/sh -c` in `cwd` inside the
 * root, waits for the engine's `egress_url` log line, captures {@link CAPTURE_S} s of
 * `/channel/1.ts` from 127.0.0.1 of the engine's network namespace, stops everything.
 */
export async function playDemo(
  root: Root,
  shellCommand: string,
  cwd: string,
  workdir: string,
): Promise<DemoResult> {
  const log = `${workdir}/${root.name}-engine.log`;
  const capture = `${workdir}/${root.name}-demo.ts`;
  const t0 = performance.now();
  const proc = root.spawn(["/bin/sh", "-c", shellCommand], log, { cwd, network: "own" });
  let exited = false;
  proc.done.then(() => exited = true);
  try {
    let url: string | undefined;
    while (!url) {
      if (exited) {
        throw new Error(
          `[${root.name}] '${shellCommand}' exited before the engine served ` +
            `its channel; log:\n${await proc.tail()}`,
        );
      }
      if ((performance.now() - t0) / 1000 > START_TIMEOUT_S) {
        throw new Error(
          `[${root.name}] no egress_url logged within ${START_TIMEOUT_S} s; ` +
            `log:\n${await proc.tail()}`,
        );
      }
      const text = await Deno.readTextFile(log).catch(() => "");
      const m = text.match(/"event":"egress_url","url":"(http:\/\/[^"]+\/channel\/1\.ts)"/);
      if (m) url = m[1];
      else await new Promise((r) => setTimeout(r, 250));
    }
    const startS = (performance.now() - t0) / 1000;
    // The URL names the host's name; the engine listens on all addresses of its namespace.
    const local = url.replace(/^http:\/\/[^/]+/, `http://127.0.0.1:${new URL(url).port}`);
    const curl = await new Deno.Command(proc.inNetwork()[0], {
      args: [
        ...proc.inNetwork().slice(1),
        "curl",
        "-sS",
        "--max-time",
        String(CAPTURE_S),
        "-o",
        capture,
        local,
      ],
      stderr: "piped",
    }).output();
    // 28: the transfer ran for --max-time (a live channel never ends): the expected outcome.
    if (!curl.success && curl.code !== 28) {
      throw new Error(
        `[${root.name}] curl ${local} failed (${curl.code}): ` +
          `${new TextDecoder().decode(curl.stderr)}\nlog:\n${await proc.tail()}`,
      );
    }
    const verdict = await judgeTs(capture);
    const found = problems(verdict, 5 * CAPTURE_S, 5 * CAPTURE_S);
    return { startS, url, verdict, problems: found, summary: describe(verdict) };
  } finally {
    await proc.kill();
  }
}
