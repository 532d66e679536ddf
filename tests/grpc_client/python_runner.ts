/**
 * Drives the Python (grpcio) test clients in tests/grpc_client/ from Deno tests: generates the
 * stubs with Debian's `/usr/bin/python3 -m grpc_tools.protoc` and runs batches of calls.
 *
 * @module
 */

/** Debian's interpreter, which has python3-grpcio and python3-grpc-tools. */
export const PYTHON = "/usr/bin/python3";
/** Environment of the scripts: no __pycache__ written into the source tree. */
const PYTHON_ENV = { PYTHONDONTWRITEBYTECODE: "1" };

/** Directory of the Python client scripts. */
export const CLIENT_DIR = new URL(".", import.meta.url).pathname;

/** A Python script failed; carries its exit code, stdout and stderr. */
export class PythonClientError extends Error {
  override name = "PythonClientError";
  constructor(
    readonly script: string,
    readonly code: number,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${script} exited with ${code}\nstdout: ${stdout}\nstderr: ${stderr}`);
  }
}

/** Runs `script` (in tests/grpc_client/) with `args`, feeding `stdin`; returns stdout. */
export async function runPython(script: string, args: string[], stdin = ""): Promise<string> {
  const child = new Deno.Command(PYTHON, {
    args: [`${CLIENT_DIR}${script}`, ...args],
    cwd: CLIENT_DIR,
    env: PYTHON_ENV,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new PythonClientError(script, out.code, stdout, stderr);
  return stdout;
}

/** Generates the Python stubs into a new temp dir and returns it. */
export async function generateStubs(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "grpc_py_stubs_" });
  const out = await new Deno.Command(PYTHON, {
    args: ["-c", "import sys; from playout_stubs import generate; generate(sys.argv[1])", dir],
    cwd: CLIENT_DIR,
    env: PYTHON_ENV,
  }).output();
  if (!out.success) {
    throw new PythonClientError(
      "playout_stubs.py",
      out.code,
      new TextDecoder().decode(out.stdout),
      new TextDecoder().decode(out.stderr),
    );
  }
  return dir;
}

/** One call of a batch (see call_runner.py). */
export interface PyCall {
  rpc: string;
  request?: Record<string, unknown>;
  service?: "playout" | "health";
  stream?: boolean;
  background?: boolean;
  await_first?: boolean;
  max_messages?: number;
}

/** One result of a batch. */
export interface PyResult {
  ok: boolean;
  // deno-lint-ignore no-explicit-any
  response?: Record<string, any>;
  // deno-lint-ignore no-explicit-any
  messages?: Record<string, any>[];
  code?: string;
  details?: string;
}

/** Runs a batch of calls with the Python client; results in call order. */
export async function pythonCalls(
  stubsDir: string,
  target: string,
  calls: PyCall[],
): Promise<PyResult[]> {
  const out = await runPython("call_runner.py", [stubsDir], JSON.stringify({ target, calls }));
  return JSON.parse(out);
}
