/**
 * `deno task compile`: compiles the engine into one self-contained executable
 * `build/retrovue_playout`, permissions baked in, worker modules included. Honours
 * `DENORT_BIN`. Where denort cannot be obtained or `deno compile` fails, it says why and exits
 * 1 (`deno task package` then falls back to the runtime+bundle layout).
 *
 * Usage: `deno task compile [--entry src/main.ts] [--out build/retrovue_playout]`
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CommandFailedError, runCommand } from "./command.ts";
import { probeDenort } from "./denort.ts";
import { COMMAND_NAME, readPackageVersion, REPO_ROOT } from "./package_metadata.ts";
import { RUNTIME_PERMISSION_FLAGS } from "./permissions.ts";
import { versionProblem } from "./version_check.ts";
import { findWorkerEntries } from "./worker_entries.ts";

/** Options of {@linkcode compileExecutable}. */
export interface CompileOptions {
  /** The program's entry module. */
  entry: string;
  /** Path of the executable to write. */
  output: string;
  /** The version `--version` must print (checks the executable really runs the program). */
  version: string;
  /** Kill `deno compile` after this many milliseconds (default 300 000: a denort download). */
  timeoutMs?: number;
  /** Environment for the denort probe and `deno compile` (default: this process's). */
  env?: Record<string, string>;
}

/** The executable, or why there is none. */
export type CompileOutcome =
  | { ok: true; executable: string; denortSource: string }
  | { ok: false; reason: string };

/** Runs `deno compile` and checks the result; any failure to get one is `{ ok: false }`. */
export async function compileExecutable(opts: CompileOptions): Promise<CompileOutcome> {
  const env = opts.env ?? Deno.env.toObject();
  const denort = await probeDenort({ env });
  if (!denort.available) return { ok: false, reason: denort.reason };
  const workers = await findWorkerEntries(opts.entry);
  const includes = [...new Set(workers.map((w) => w.entryFile))].flatMap((f) => ["--include", f]);
  await Deno.mkdir(dirname(resolve(opts.output)), { recursive: true });
  try {
    await runCommand([
      Deno.execPath(),
      "compile",
      "--frozen",
      "--no-check",
      ...RUNTIME_PERMISSION_FLAGS,
      ...includes,
      "--output",
      opts.output,
      opts.entry,
    ], { cwd: REPO_ROOT, env, clearEnv: true, timeoutMs: opts.timeoutMs ?? 300_000 });
  } catch (err) {
    // Whatever the cause (no denort, a bad DENORT_BIN, a crash of deno compile), there is no
    // executable; a program that cannot build fails the bundle step just as clearly.
    if (!(err instanceof CommandFailedError)) throw err;
    return {
      ok: false,
      reason: err.timedOut
        ? `deno compile timed out (denort from ${denort.source})`
        : `deno compile failed (denort from ${denort.source}): ${errorSummary(err.stderr)}`,
    };
  }
  const problem = await versionProblem(opts.output, opts.version);
  if (problem) {
    await Deno.remove(opts.output);
    return {
      ok: false,
      reason: `the compiled executable does not run the program: ${problem} ` +
        `(denort from ${denort.source}; DENORT_BIN must be a denort runtime, not the deno CLI)`,
    };
  }
  return { ok: true, executable: opts.output, denortSource: denort.source };
}

/** The first error line and the innermost cause of a deno error report. */
function errorSummary(text: string): string {
  // deno colours its messages even into a pipe.
  // deno-lint-ignore no-control-regex
  const plain = text.replace(/\x1b\[[0-9;]*m/g, "");
  const lines = plain.trim().split("\n").map((l) => l.trim()).filter((l) => l.length > 0);
  const first = lines.find((l) => /error/i.test(l)) ?? "";
  const causes = lines.filter((l) => /^\d+: /.test(l));
  return [first, causes.at(-1)?.replace(/^\d+: /, "")].filter(Boolean).join(": ");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      entry: { type: "string", default: "src/main.ts" },
      out: { type: "string", default: `build/${COMMAND_NAME}` },
    },
  });
  const version = await readPackageVersion();
  const outcome = await compileExecutable({
    entry: resolve(REPO_ROOT, values.entry),
    output: resolve(REPO_ROOT, values.out),
    version,
  });
  if (!outcome.ok) {
    console.error(`compile: no self-contained executable: ${outcome.reason}`);
    console.error("compile: `deno task package` falls back to the runtime+bundle layout");
    Deno.exit(1);
  }
  console.log(`compile: wrote ${outcome.executable} (${version}, denort ${outcome.denortSource})`);
}
