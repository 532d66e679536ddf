/**
 * How a session's as-run record ends when its channel goes away, and `primed_success`, as the
 * spool (what is streamed to Core) holds them: a real ChannelManager with real Workers and the
 * real EvidenceHub (Core unreachable, so every event stays in the spool), virtual clock.
 *
 * - A worker hung inside FFmpeg (the next segment's asset is a FIFO nobody writes: its open
 *   blocks, as on a hung network mount) cannot answer a stop: after the stop grace it is
 *   terminated and the record ends with ChannelTerminated `CHANNEL_STOPPED`, nothing after.
 * - A block whose first segment's asset is missing was not primed: `primed_success` false on
 *   its BlockStart and BlockFence, true on the next block.
 * - A channel that fails mid-session ends the record with ChannelTerminated `CHANNEL_FAILED`,
 *   nothing after (not a stop's TRUNCATED/SESSION_STOPPED and final BlockFence): the worker is
 *   the real one wrapped by tests/evidence/failing_channel_worker.ts (ChannelManager's
 *   `createWorker`), whose output throws (the runner's loop rejects: `fatal`) or which crashes
 *   (the Worker's `error` event; Deno prints the uncaught error). No product code fails on
 *   purpose.
 */

import { assert, assertEquals } from "./assert.ts";
import type { ChannelManager } from "../src/engine/channel_manager.ts";
import type { ChannelOutputSet } from "../src/outputs/channel_output_set.ts";
import {
  coreSocketStandIn,
  mkfifo,
  quietLog,
  TEST_FORMAT,
  testManager,
} from "./manager_fixtures.ts";
import { EvidenceHub } from "../src/evidence/hub.ts";
import type { EvidenceRecord } from "../src/evidence/wire.ts";
import { block, segment } from "./plan_builders.ts";

const FMT = TEST_FORMAT;
const CHANNEL = 7;
const CHANNEL_STR = "terminated-test";
/** Nothing listens there: Core is down, the spool keeps everything. */
const CORE_DOWN = "127.0.0.1:9";

interface Rig {
  dir: string;
  manager: ChannelManager<ChannelOutputSet>;
  hub: EvidenceHub;
  /** Whole records of the channel's spools, by session, in file order. */
  spools(): Promise<Map<string, EvidenceRecord[]>>;
  /** The first session's records once `done` holds for them (polled, bounded at 30 s). */
  recordsUntil(done: (records: EvidenceRecord[]) => boolean): Promise<EvidenceRecord[]>;
  close(): Promise<void>;
}

async function rig(opts: { stopGraceMs?: number; workerUrl?: URL } = {}): Promise<Rig> {
  const url = opts.workerUrl;
  const dir = await Deno.makeTempDir({ prefix: "evidence_terminated_" });
  const log = quietLog();
  const hub = new EvidenceHub({ stateDir: `${dir}/state`, log, minBackoffMs: 60_000 });
  await hub.start();
  const manager = testManager({
    log,
    virtualClock: true,
    leadMs: 200,
    evidence: hub,
    stopGraceMs: opts.stopGraceMs,
    createWorker: url && (() => new Worker(url, { type: "module" })),
  });
  const core = coreSocketStandIn(`${dir}/core.sock`);
  await manager.attachStream(CHANNEL, "unix", `${dir}/core.sock`, true);
  const spoolDir = hub.dirFor(CHANNEL_STR);
  const rigged: Rig = {
    dir,
    manager,
    hub,
    async spools() {
      const out = new Map<string, EvidenceRecord[]>();
      let names: string[] = [];
      try {
        for await (const e of Deno.readDir(spoolDir)) names.push(e.name);
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return out;
        throw err;
      }
      names = names.filter((n) => n.endsWith(".jsonl")).sort();
      for (const n of names) {
        const text = await Deno.readTextFile(`${spoolDir}/${n}`);
        const whole = text.slice(0, text.lastIndexOf("\n") + 1);
        out.set(
          n.replace(/\.jsonl$/, ""),
          whole.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l)),
        );
      }
      return out;
    },
    async recordsUntil(done: (records: EvidenceRecord[]) => boolean) {
      const deadline = Date.now() + 30_000;
      let records: EvidenceRecord[] = [];
      while (true) {
        records = [...(await rigged.spools()).values()][0] ?? [];
        if (done(records)) return records;
        assert(Date.now() < deadline, `gave up waiting; spool holds ${records.map(brief)}`);
        await new Promise((res) => setTimeout(res, 50));
      }
    },
    async close() {
      await manager.close();
      await hub.close();
      await core.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
  return rigged;
}

function payload(r: EvidenceRecord): Record<string, unknown> {
  return r[r.payload_type] as Record<string, unknown>;
}

/** Kind, block and segment of a record (and status/reason, or the termination reason). */
function brief(r: EvidenceRecord): string {
  const p = payload(r);
  switch (r.payload_type) {
    case "block_start":
      return `BS ${p.block_id}`;
    case "segment_start":
      return `SS ${p.block_id}/${p.event_id}`;
    case "segment_end":
      return `SE ${p.block_id}/${p.event_id_ref} ${p.status}${p.reason ? "/" + p.reason : ""}`;
    case "block_fence":
      return `BF ${p.block_id}`;
    case "channel_terminated":
      return `CT ${p.reason}`;
    default:
      return r.payload_type;
  }
}

function assertContiguous(records: EvidenceRecord[]): void {
  assertEquals(records.map((r) => r.sequence), records.map((_, i) => i + 1), "sequences");
  assertEquals(new Set(records.map((r) => r.event_uuid)).size, records.length, "uuids unique");
  for (const r of records) {
    assertEquals(r.schema_version, 1);
    assertEquals(r.channel_id, CHANNEL_STR);
  }
}

Deno.test("a worker hung in FFmpeg is terminated at stop: the record ends with ChannelTerminated CHANNEL_STOPPED", async () => {
  const r = await rig({ stopGraceMs: 300 });
  const fifo = `${r.dir}/hung.ts`;
  await mkfifo(fifo);
  let writer: Deno.FsFile | undefined;
  try {
    const t0 = Date.now() + 1000;
    // 2 s of pad airs; the FIFO segment's open (its pre-roll, before the pad ends) hangs.
    const a = block("A", t0, [segment(0, "", 2000), segment(1, fifo, 2000)], CHANNEL);
    const b = block("B", a.endUtcMs, [segment(0, "", 1000)], CHANNEL);
    await r.manager.startBlockSession(CHANNEL, [a, b], 0, FMT, 2, {
      endpoint: CORE_DOWN,
      channelIdStr: CHANNEL_STR,
    });
    // Resolves once the worker has opened the FIFO for reading: it now blocks in FFmpeg's
    // first read, and answers nothing.
    writer = await Deno.open(fifo, { write: true });
    await r.manager.stopChannel(CHANNEL);
    // Spooled within 250 ms; polled (a bound, not a timing judgement).
    const records = await r.recordsUntil((rs) =>
      rs.some((x) => x.payload_type !== "block_start" && x.payload_type !== "segment_start")
    );
    assertEquals((await r.spools()).size, 1, "one session spooled");
    assertContiguous(records);
    assertEquals(records.map(brief), ["BS A", "SS A/ev0", "CT CHANNEL_STOPPED"]);
    const ct = payload(records[2]);
    assert(String(ct.detail).includes("before its record closed"), String(ct.detail));
    assert(Number(ct.termination_utc_ms) > 0, "termination_utc_ms");
    assertEquals(records[2].final, true, "ChannelTerminated is the session's final event");
    // The hung open ends (EOF); the terminated worker adds nothing, also once all is closed.
    writer.close();
    writer = undefined;
    await r.manager.close();
    await r.hub.close();
    assertEquals([...(await r.spools()).values()][0].map(brief), records.map(brief));
  } finally {
    writer?.close();
    await r.close();
  }
});

Deno.test("primed_success is false for a block whose first asset is missing, true for the next", async () => {
  const r = await rig();
  try {
    const t0 = Date.now() + 1000;
    const a = block("A", t0, [
      segment(0, `${r.dir}/no-such-file.mp4`, 1000),
      segment(1, "", 1000),
    ], CHANNEL);
    const b = block("B", a.endUtcMs, [segment(0, "", 1000)], CHANNEL);
    await r.manager.startBlockSession(CHANNEL, [a, b], 0, FMT, 2, {
      endpoint: CORE_DOWN,
      channelIdStr: CHANNEL_STR,
    });
    const records = await r.recordsUntil((rs) =>
      rs.some((x) => x.payload_type === "block_fence" && payload(x).block_id === "B")
    );
    assertContiguous(records);
    assertEquals(records.map(brief), [
      "BS A",
      "SE A/ev0 ERROR/ASSET_MISSING",
      "SS A/ev1",
      "SE A/ev1 AIRED",
      "BF A",
      "BS B",
      "SS B/ev0",
      "SE B/ev0 AIRED",
      "BF B",
    ]);
    const primed = records
      .filter((x) => x.payload_type === "block_start" || x.payload_type === "block_fence")
      .map((x) => `${brief(x)} primed=${payload(x).primed_success}`);
    assertEquals(primed, [
      "BS A primed=false",
      "BF A primed=false",
      "BS B primed=true",
      "BF B primed=true",
    ]);
  } finally {
    await r.close();
  }
});

for (const [mode, how] of [["output", "its output throws"], ["crash", "it crashes"]]) {
  Deno.test(`a channel that fails mid-session (${how}): the record ends with ChannelTerminated CHANNEL_FAILED`, async () => {
    const r = await rig({
      workerUrl: new URL(`./evidence/failing_channel_worker.ts?fail=${mode}`, import.meta.url),
    });
    try {
      const t0 = Date.now() + 1000;
      const a = block("A", t0, [segment(0, "", 10_000), segment(1, "", 2000)], CHANNEL);
      const b = block("B", a.endUtcMs, [segment(0, "", 1000)], CHANNEL);
      await r.manager.startBlockSession(CHANNEL, [a, b], 0, FMT, 2, {
        endpoint: CORE_DOWN,
        channelIdStr: CHANNEL_STR,
      });
      const records = await r.recordsUntil((rs) => rs.some((x) => x.final === true));
      assertContiguous(records);
      assertEquals(records.map(brief), ["BS A", "SS A/ev0", "CT CHANNEL_FAILED"]);
      const ct = payload(records[2]);
      assert(String(ct.detail).includes("stand-in:"), String(ct.detail));
      assertEquals(r.manager.get(CHANNEL)?.state, "error");
      // Nothing follows the ChannelTerminated, also once the failed worker is gone.
      await r.manager.close();
      await r.hub.close();
      assertEquals([...(await r.spools()).values()][0].map(brief), records.map(brief));
    } finally {
      await r.close();
    }
  });
}
