/**
 * Run by `core_managed_test.ts` inside private network and mount namespaces (own
 * loopback, own /run and /var/lib), so that every engine uses its true defaults — state in
 * /var/lib/retrovue-playout, sockets in /run — without touching the host's:
 *
 * 1. a Core session on a `--port N` engine (attach, block session, TS on Core's socket),
 *    ended by SIGKILL (the engine cleans nothing up);
 * 2. the embedded default (no arguments at all) on the same host and state directory.
 *
 * Prints one JSON line: what /healthz of the embedded default answered and what the state
 * directory held. Usage: `deno run -A core_then_default_scenario.ts WORKDIR CLIP`.
 *
 * @module
 */

import {
  CoreSocket,
  EngineProcess,
  freePort,
  listDir,
  processState,
  startCoreSession,
  waitFor,
} from "./core_managed_fixtures.ts";

const [workdir, clip] = Deno.args;

/** SIGKILLs `pid` unless it has already exited. */
function killIfAlive(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err; // NotFound: already gone
  }
}
const result: Record<string, unknown> = {};

const core = await EngineProcess.spawn({ port: freePort(), logPath: `${workdir}/core.log` });
const socket = new CoreSocket(`${workdir}/core.sock`);
try {
  await core.waitVersion();
  await startCoreSession(core, 63, socket, clip);
  await waitFor("2 s of TS on Core's socket", () => socket.streamedMs >= 2000);
  result.coreStreamedMs = Math.round(socket.streamedMs);
  result.coreCcErrors = socket.connections[0].analyzer.summary().ccErrors;
} catch (err) {
  // The engine's own words come with the failure (it may have exited already).
  console.error(`Core session failed: ${err}\ncore.log: ${await core.logTail()}`);
  throw err;
} finally {
  killIfAlive(core.pid);
  await waitFor("the Core session's engine to die", async () => {
    const s = await processState(core.pid);
    return s === undefined || s === "Z";
  });
  await socket.close();
}
result.stateDirAfterCore = await listDir("/var/lib/retrovue-playout");

// The embedded default: no arguments (EngineProcess always passes --port).
const log = await Deno.open(`${workdir}/default.log`, { write: true, create: true });
const embedded = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL("../src/main.ts", import.meta.url).pathname, "--log-format", "json"],
  stdin: "null",
  stdout: "piped",
  stderr: "null",
}).spawn();
const pump = embedded.stdout.pipeTo(log.writable);
try {
  const health = await waitFor("the embedded default's /healthz to answer 200", async () => {
    const r = await fetch("http://127.0.0.1:9308/healthz").catch(() => undefined);
    if (r === undefined) return undefined;
    const body = await r.json();
    return r.status === 200 ? { status: r.status, body } : undefined;
  }, 90_000);
  result.healthz = health;
} catch (err) {
  const r = await fetch("http://127.0.0.1:9308/healthz").catch(() => undefined);
  result.healthz = r ? { status: r.status, body: await r.json() } : { error: String(err) };
} finally {
  embedded.kill("SIGTERM");
  result.defaultExit = (await embedded.status).code;
  await pump.catch(() => {});
}
const defaultLog = await Deno.readTextFile(`${workdir}/default.log`);
result.defaultLogged = defaultLog.includes('"event":"starting"');
result.defaultWatchesParent = defaultLog.includes('"event":"parent_watch_started"');
console.log(JSON.stringify(result));
