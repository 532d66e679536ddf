/**
 * Running the build's tools (deno, dpkg-deb) as subprocesses, with typed failures. Build-time
 * only: the product itself never spawns a process.
 *
 * @module
 */

/** A build tool exited non-zero, was killed, or timed out. */
export class CommandFailedError extends Error {
  override name = "CommandFailedError";
  constructor(
    readonly command: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
    readonly timedOut: boolean = false,
  ) {
    super(
      `${command.join(" ")}: ${timedOut ? "timed out" : `exited with ${code}`}${
        stderr ? `\n${stderr.trimEnd()}` : ""
      }`,
    );
  }
}

/** What a finished command printed. */
export interface CommandOutput {
  /** Standard output, decoded as UTF-8. */
  stdout: string;
  /** Standard error, decoded as UTF-8. */
  stderr: string;
}

/** Options of {@linkcode runCommand}. */
export interface RunCommandOptions {
  /** Working directory. */
  cwd?: string;
  /** Environment variables (added to this process's unless `clearEnv`). */
  env?: Record<string, string>;
  /** Start from an empty environment. */
  clearEnv?: boolean;
  /** Kill the command after this many milliseconds and fail with `timedOut`. */
  timeoutMs?: number;
}

const decoder = new TextDecoder();

/** Runs `command` (program first) to completion; throws {@linkcode CommandFailedError}. */
export async function runCommand(
  command: readonly string[],
  opts: RunCommandOptions = {},
): Promise<CommandOutput> {
  const [program, ...args] = command;
  const signal = opts.timeoutMs === undefined ? undefined : AbortSignal.timeout(opts.timeoutMs);
  const child = new Deno.Command(program, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    clearEnv: opts.clearEnv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  });
  const out = await child.output();
  const stdout = decoder.decode(out.stdout);
  const stderr = decoder.decode(out.stderr);
  if (!out.success) {
    throw new CommandFailedError(command, out.code, stderr, signal?.aborted ?? false);
  }
  return { stdout, stderr };
}
