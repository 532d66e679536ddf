/**
 * The engine's main thread (gRPC, viewers, metrics) and V8's platform threads (its GC helpers)
 * run in the round-robin real-time class where the host allows it, and the threads it starts — a channel's Worker and FFmpeg threads —
 * do not inherit it; where it is not allowed the engine runs on at the normal priority and says
 * why. Scheduling is read by this test from /proc/<pid>/task/<tid>/stat, not from the engine.
 */

import { assert, assertEquals } from "./assert.ts";
import { fixture } from "./fixtures.ts";
import { playoutClient, unary } from "./grpc_client/grpc_js_client.ts";
import {
  CoreSocket,
  EngineProcess,
  freePort,
  startCoreSession,
  waitFor,
} from "./core_managed_fixtures.ts";

/** `SCHED_OTHER` / `SCHED_RR` from `<sched.h>`, as /proc shows the policy. */
const SCHED_OTHER = 0;
const SCHED_RR = 2;

interface Scheduling {
  name: string;
  policy: number;
  rtPriority: number;
  nice: number;
}

function threads(pid: number): Map<number, Scheduling> {
  const out = new Map<number, Scheduling>();
  for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
    let s: string;
    try {
      s = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/stat`);
    } catch {
      continue; // ended while listed
    }
    // Fields after "(comm)" start at field 3: nice is field 19, rt_priority 40, policy 41.
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    out.set(Number(e.name), {
      name: s.slice(s.indexOf("(") + 1, s.lastIndexOf(")")),
      nice: Number(f[16]),
      rtPriority: Number(f[37]),
      policy: Number(f[38]),
    });
  }
  return out;
}

/** The soft and hard RLIMIT_RTPRIO of this process, as /proc/self/limits writes them. */
function realtimeLimit(): { soft?: string; hard?: string } {
  const line = Deno.readTextFileSync("/proc/self/limits").split("\n")
    .find((l) => l.startsWith("Max realtime priority")) ?? "";
  const [soft, hard] = line.slice("Max realtime priority".length).trim().split(/\s+/);
  return { soft, hard };
}

/** A Core-managed engine started through `prefix`, its log and state in a new temp dir. */
async function spawnEngine(prefix: string[]): Promise<{ dir: string; engine: EngineProcess }> {
  const dir = await Deno.makeTempDir({ prefix: "control_priority_" });
  const engine = await EngineProcess.spawn({
    port: freePort(),
    logPath: `${dir}/engine.log`,
    args: ["--state-dir", `${dir}/state`],
    prefix,
  });
  return { dir, engine };
}

Deno.test("the main thread runs SCHED_RR 1 where allowed; a channel's threads stay normal at nice 4", async () => {
  // Root has CAP_SYS_NICE; anyone else needs RLIMIT_RTPRIO >= 1 (the systemd unit's setting).
  const limit = realtimeLimit();
  const prefix = Deno.uid() === 0 ? [] : ["prlimit", "--rtprio=1", "--"];
  if (Deno.uid() !== 0 && (limit.hard === "0" || limit.hard === undefined)) {
    throw new Error(
      "tests/control_thread_priority_test.ts needs root or a hard RLIMIT_RTPRIO >= 1 (here " +
        `soft ${limit.soft}, hard ${limit.hard}) to see the engine's main thread made real time`,
    );
  }
  const { dir, engine } = await spawnEngine(prefix);
  const socket = new CoreSocket(`${dir}/core.sock`);
  try {
    assertEquals(await engine.waitVersion(), "1.0.0");
    const main = threads(engine.pid).get(engine.pid);
    assertEquals(main?.policy, SCHED_RR, `main thread: ${JSON.stringify(main)}`);
    assertEquals(main?.rtPriority, 1);
    const line = (await engine.logLines()).find((l) => l.event === "control_thread_priority");
    assertEquals(line?.policy, "SCHED_RR");
    // V8's platform threads (every isolate's GC helpers) are real time with it.
    const gc = [...threads(engine.pid).values()].filter((t) => t.name === "V8 DefaultWorke");
    assert(gc.length >= 1, `V8 platform threads: ${JSON.stringify([...threads(engine.pid)])}`);
    for (const t of gc) {
      assertEquals([t.policy, t.rtPriority], [SCHED_RR, 1], `a V8 thread: ${JSON.stringify(t)}`);
    }
    assertEquals(line?.gc_threads, gc.length);

    // A channel started now: its Worker and FFmpeg threads, named rv-ch-<id>.
    await startCoreSession(engine, 11, socket, await fixture("h264_aac_mp4"));
    await waitFor("1 s of the channel's TS", () => socket.streamedMs >= 1000);
    const channel = [...threads(engine.pid).values()].filter((t) => t.name === "rv-ch-11");
    assert(channel.length >= 2, `channel threads: ${JSON.stringify(channel)}`);
    for (const t of channel) {
      assertEquals([t.policy, t.nice], [SCHED_OTHER, 4], `a channel thread: ${JSON.stringify(t)}`);
    }
    // The main thread still real time, and answering while the channel runs.
    assertEquals(threads(engine.pid).get(engine.pid)?.policy, SCHED_RR);
    const client = playoutClient(engine.address);
    try {
      assertEquals((await unary(client, "GetVersion", {})).version, "1.0.0");
    } finally {
      client.close();
    }
  } finally {
    await engine.stop();
    await socket.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("where real time is not allowed, the engine runs at the normal priority and logs why", async () => {
  // RLIMIT_RTPRIO 0 and, for root, no CAP_SYS_NICE: what an unprivileged shell or a
  // container gives.
  const prefix = Deno.uid() === 0
    ? [
      "setpriv",
      "--bounding-set=-sys_nice",
      "--inh-caps=-sys_nice",
      "prlimit",
      "--rtprio=0:0",
      "--",
    ]
    : ["prlimit", "--rtprio=0:0", "--"];
  const { dir, engine } = await spawnEngine(prefix);
  try {
    assertEquals(await engine.waitVersion(), "1.0.0");
    const main = threads(engine.pid).get(engine.pid);
    assertEquals(main?.policy, SCHED_OTHER, `main thread: ${JSON.stringify(main)}`);
    for (const t of threads(engine.pid).values()) {
      assertEquals(t.policy, SCHED_OTHER, `no thread real time: ${JSON.stringify(t)}`);
    }
    const line = (await engine.logLines()).find((l) => l.event === "control_thread_priority");
    assertEquals(line?.policy, "normal");
    assert(
      String(line?.reason).includes("RLIMIT_RTPRIO is 0"),
      `the reason names the limit: ${JSON.stringify(line)}`,
    );
  } finally {
    await engine.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
