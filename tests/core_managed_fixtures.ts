/**
 * Helpers for tests that run real engine processes the way RetroVue Core does: spawn
 * `src/main.ts --port N`, poll GetVersion, bind a Unix socket the engine writes TS into
 * (judged with the TS analyzer), drive a block session over gRPC; and a real Prometheus.
 *
 * @module
 */

import { TsAnalyzer } from "../media/ts_analyzer.ts";
import { playoutClient, unary, type Wire } from "./grpc_client/grpc_js_client.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const REPO = new URL("..", import.meta.url).pathname;

/** Program format of the test sessions: small, so that several engines fit on two cores. */
export const SESSION_FORMAT_JSON = JSON.stringify({
  video: { width: 160, height: 90, frame_rate: "25/1" },
  audio: { sample_rate: 48000, channels: 2 },
});

/** A free TCP port on 127.0.0.1 (bound and released). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Polls `cond` every 100 ms; throws after a generous bound. */
export async function waitFor<T>(
  what: string,
  cond: () => T | undefined | false | Promise<T | undefined | false>,
  boundMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const v = await cond();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} (${boundMs} ms)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Names in a directory; none when it does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return names.sort();
}

/** SIGKILLs `pid` unless it is gone already. */
export function killIfRunning(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** A process state from /proc: undefined when gone; "Z" for a zombie (exited, not reaped). */
export async function processState(pid: number): Promise<string | undefined> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** An engine process spawned like Core spawns it, its output in a log file. */
export class EngineProcess {
  readonly address: string;
  #child: Deno.ChildProcess;
  #status: Promise<Deno.CommandStatus>;

  private constructor(
    readonly port: number,
    readonly pid: number,
    readonly logPath: string,
    child: Deno.ChildProcess,
  ) {
    this.address = `127.0.0.1:${port}`;
    this.#child = child;
    this.#status = child.status;
  }

  /**
   * Spawns `deno run -A src/main.ts --port PORT ...args`. With `viaParent`, an intermediate
   * `sh` is the engine's parent (kill it with {@link killParent}); otherwise the test is.
   * `prefix` is a command that execs the rest (e.g. `prlimit --rtprio=0:0 --`): the engine
   * is still the process whose pid this gives.
   */
  static async spawn(opts: {
    port: number;
    logPath: string;
    args?: string[];
    viaParent?: boolean;
    env?: Record<string, string>;
    prefix?: string[];
  }): Promise<EngineProcess> {
    const engineArgs = [
      "run",
      "-A",
      MAIN,
      "--port",
      String(opts.port),
      "--log-format",
      "json",
      ...(opts.args ?? []),
    ];
    // `exec` makes the child the engine itself; the parent variant backgrounds it and waits.
    const script = opts.viaParent
      ? 'log="$1"; shift; "$@" >"$log" 2>&1 & echo $!; wait'
      : 'log="$1"; shift; exec "$@" >"$log" 2>&1';
    const child = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        script,
        "sh",
        opts.logPath,
        ...(opts.prefix ?? []),
        Deno.execPath(),
        ...engineArgs,
      ],
      cwd: REPO,
      env: opts.env,
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    let pid = child.pid;
    if (opts.viaParent) {
      const reader = child.stdout.getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("the parent shell ended before printing the engine's pid");
        text += new TextDecoder().decode(value);
      }
      pid = Number(text.trim());
      reader.releaseLock();
    }
    child.stdout.cancel().catch(() => {});
    return new EngineProcess(opts.port, pid, opts.logPath, child);
  }

  /** Polls GetVersion like Core (fresh connection per try) until it answers. */
  async waitVersion(): Promise<string> {
    return await waitFor(`GetVersion of ${this.address}`, async () => {
      if ((await processState(this.pid)) === undefined) {
        throw new Error(`engine ${this.address} exited; log:\n${await this.logTail()}`);
      }
      // Only once this engine says it listens: another process on this host may have taken
      // the port freePort() returned (a concurrent suite), and would answer GetVersion too.
      if (!(await this.logLines()).some((l) => l.event === "grpc_listening")) return undefined;
      const client = playoutClient(this.address);
      try {
        const r = await unary(client, "GetVersion", {});
        return String(r.version);
      } catch {
        return undefined;
      } finally {
        client.close();
      }
    });
  }

  /** The engine's JSON log lines. */
  async logLines(): Promise<Record<string, unknown>[]> {
    const text = await Deno.readTextFile(this.logPath).catch(() => "");
    return text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  }

  /** The end of the log, for failure messages. */
  async logTail(): Promise<string> {
    return (await Deno.readTextFile(this.logPath).catch(() => "")).slice(-4000);
  }

  /** SIGTERM and wait; the exit code. */
  async stop(): Promise<number> {
    try {
      Deno.kill(this.pid, "SIGTERM");
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    if (this.#child.pid === this.pid) return (await this.#status).code;
    await waitFor("engine exit", async () => {
      const s = await processState(this.pid);
      return s === undefined || s === "Z";
    });
    await this.#status.catch(() => {});
    return 0;
  }

  /** SIGKILLs the intermediate parent (only with `viaParent`). */
  async killParent(): Promise<void> {
    if (this.#child.pid === this.pid) throw new Error("this engine has no intermediate parent");
    this.#child.kill("SIGKILL");
    await this.#status;
  }
}

/** One connection the engine made to a Core socket, judged as it streams. */
export interface CoreConnection {
  bytes: number;
  firstByte: number | undefined;
  analyzer: TsAnalyzer;
}

/** A Unix socket Core binds; the engine connects and writes TS into it. */
export class CoreSocket {
  readonly connections: CoreConnection[] = [];
  #listener: Deno.UnixListener;
  #accepting: Promise<void>;

  constructor(readonly path: string) {
    this.#listener = Deno.listen({ transport: "unix", path });
    this.#accepting = this.#accept();
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        const rec: CoreConnection = {
          bytes: 0,
          firstByte: undefined,
          analyzer: new TsAnalyzer({ recordValues: false }),
        };
        this.connections.push(rec);
        (async () => {
          for await (const chunk of conn.readable) {
            rec.firstByte ??= chunk[0];
            rec.bytes += chunk.length;
            rec.analyzer.push(chunk);
          }
        })().catch(() => {});
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.BadResource)) throw err;
    }
  }

  /** Stream time received on the first connection (PCR span), ms. */
  get streamedMs(): number {
    return this.connections[0]?.analyzer.summary().durationMs ?? 0;
  }

  close(): Promise<void> {
    try {
      this.#listener.close();
    } catch (err) {
      if (!(err instanceof Deno.errors.BadResource)) throw err;
    }
    return this.#accepting;
  }
}

/** Length of each session block: long enough to outlast a slow run of the tests. */
const BLOCK_MS = 90_000;

function blockWire(channelId: number, id: string, start: number, clip: string): Wire {
  const ms = BLOCK_MS;
  return {
    block_id: id,
    channel_id: channelId,
    start_utc_ms: String(start),
    end_utc_ms: String(start + ms),
    segments: [
      {
        segment_index: 0,
        asset_uri: clip,
        segment_duration_ms: "2000",
        segment_type: "SEGMENT_TYPE_CONTENT",
      },
      {
        segment_index: 1,
        asset_uri: "",
        segment_duration_ms: String(ms - 2000),
        segment_type: "SEGMENT_TYPE_PAD",
      },
    ],
  };
}

/**
 * Core's flow on one engine: AttachStream(UNIX, socket, replace_existing) and a block session
 * of two {@link BLOCK_MS} blocks (a 2 s clip, then PAD) starting now.
 */
export async function startCoreSession(
  engine: EngineProcess,
  channelId: number,
  socket: CoreSocket,
  clip: string,
): Promise<void> {
  const client = playoutClient(engine.address);
  try {
    const attach = await unary(client, "AttachStream", {
      channel_id: channelId,
      transport: "STREAM_TRANSPORT_UNIX_DOMAIN_SOCKET",
      endpoint: socket.path,
      replace_existing: true,
    });
    if (attach.success !== true) throw new Error(`AttachStream: ${attach.message}`);
    const t0 = Date.now();
    const start = await unary(client, "StartBlockPlanSession", {
      channel_id: channelId,
      block_a: blockWire(channelId, "a", t0, clip),
      block_b: blockWire(channelId, "b", t0 + BLOCK_MS, clip),
      program_format_json: SESSION_FORMAT_JSON,
    });
    if (start.success !== true) throw new Error(`StartBlockPlanSession: ${start.message}`);
  } finally {
    client.close();
  }
}

/** A real Prometheus (Debian's) on loopback with a temp config and storage. */
export class Prometheus {
  #child: Deno.ChildProcess;
  private constructor(readonly url: string, child: Deno.ChildProcess) {
    this.#child = child;
  }

  /** Starts Prometheus scraping `file_sd` target files `<targetsDir>/*.json` every second. */
  static async start(dir: string, targetsDir: string): Promise<Prometheus> {
    const config = `${dir}/prometheus.yml`;
    await Deno.writeTextFile(
      config,
      [
        "global: { scrape_interval: 2s, scrape_timeout: 2s, evaluation_interval: 2s }",
        "scrape_configs:",
        "  - job_name: retrovue-playout",
        "    file_sd_configs:",
        `      - files: ["${targetsDir}/*.json"]`,
        "        refresh_interval: 1s",
      ].join("\n") + "\n",
    );
    const port = freePort();
    const child = new Deno.Command("prometheus", {
      args: [
        `--config.file=${config}`,
        `--storage.tsdb.path=${dir}/tsdb`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const prom = new Prometheus(`http://127.0.0.1:${port}`, child);
    const stderr = new Response(child.stderr).text();
    await waitFor("Prometheus ready", async () => {
      const r = await fetch(`${prom.url}/-/ready`).catch(() => undefined);
      await r?.body?.cancel();
      if (r === undefined) {
        const exited = await Promise.race([child.status, Promise.resolve(undefined)]);
        if (exited !== undefined) throw new Error(`prometheus exited: ${await stderr}`);
      }
      return r?.ok;
    });
    return prom;
  }

  /** Every active target's scrape URL, health and last error (for failure messages). */
  async targets(): Promise<{ scrapeUrl: string; health: string; lastError: string }[]> {
    const r = await fetch(`${this.url}/api/v1/targets?state=active`);
    const body = await r.json() as {
      data: { activeTargets: { scrapeUrl: string; health: string; lastError: string }[] };
    };
    return body.data.activeTargets.map(({ scrapeUrl, health, lastError }) => ({
      scrapeUrl,
      health,
      lastError,
    }));
  }

  /** An instant query: each series' labels and value. */
  async query(expr: string): Promise<{ metric: Record<string, string>; value: number }[]> {
    const r = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = await r.json() as {
      status: string;
      error?: string;
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== "success") throw new Error(`query ${expr}: ${body.error}`);
    return body.data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  }

  /** `up{job="retrovue-playout"}` by target: grpc_endpoint → { instance, up }. */
  async up(): Promise<Map<string, { instance: string; up: number }>> {
    const out = new Map<string, { instance: string; up: number }>();
    for (const s of await this.query('up{job="retrovue-playout"}')) {
      out.set(s.metric.grpc_endpoint, { instance: s.metric.instance, up: s.value });
    }
    return out;
  }

  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
    }
    await this.#child.status;
  }
}
