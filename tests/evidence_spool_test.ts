/**
 * The evidence spool on disk: JSON lines with contiguous sequences and fresh uuids, a write
 * at 50 records, the ack high-water mark beside the spool, a torn last line cut off on
 * recovery (appending resumes after the last whole record), compaction of the acked prefix by
 * temp file + rename, the per-session lock, and removal only once acked to a final event.
 */

import { assert, assertEquals } from "./assert.ts";
import { EvidenceSpool, type SpoolMeta } from "../src/evidence/spool.ts";
import { type EvidencePayload, terminatedPayload } from "../src/evidence/wire.ts";

function meta(id: string): SpoolMeta {
  return {
    kind: "retrovue-playout-evidence-session",
    channel_id: "spool-test",
    channel: 9,
    playout_session_id: id,
    endpoint: "127.0.0.1:1",
    created_utc: "2026-12-01T00:00:00.000Z",
  };
}

function fence(blockId: string, final = false): EvidencePayload {
  return {
    type: "block_fence",
    emittedUtcMs: Date.UTC(2026, 11, 1, 12, 0, 0),
    final,
    body: { block_id: blockId, swap_tick: 1, fence_tick: 2 },
  };
}

async function lines(path: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(path);
  assert(text === "" || text.endsWith("\n"), "spool ends with a whole line");
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

Deno.test("records: sequences 1.., unique uuids, payload_type names the oneof; 50 records write at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool_test_" });
  try {
    const spool = await EvidenceSpool.create(dir, meta("s1"), { flushMs: 60_000 });
    for (let i = 0; i < 49; i++) spool.append(fence(`b${i}`));
    assertEquals((await lines(spool.path)).length, 0); // the 250 ms timer is 60 s here
    spool.append(fence("b49"));
    await spool.flush(); // nothing buffered: waits for the write the 50th record started
    const got = await lines(spool.path);
    assertEquals(got.map((r) => r.sequence), Array.from({ length: 50 }, (_, i) => i + 1));
    assertEquals(new Set(got.map((r) => r.event_uuid)).size, 50);
    assertEquals(got[0].payload_type, "block_fence");
    assertEquals((got[0].block_fence as Record<string, unknown>).block_id, "b0");
    assertEquals(got[0].emitted_utc, "2026-12-01T12:00:00.000Z");
    assertEquals(got[0].channel_id, "spool-test");
    assertEquals(got[0].playout_session_id, "s1");
    await spool.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a record reaches the disk on its own (timer) and onFlushed sees it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool_test_" });
  try {
    const spool = await EvidenceSpool.create(dir, meta("s2"));
    const flushed = new Promise<number[]>((resolve) => {
      spool.onFlushed = (records) => resolve(records.map((r) => r.sequence));
    });
    spool.append(fence("a"));
    assertEquals(await flushed, [1]);
    assertEquals((await lines(spool.path)).length, 1);
    await spool.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a torn last line is cut off; appending resumes after the last whole record", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool_test_" });
  try {
    const first = await EvidenceSpool.create(dir, meta("s3"));
    const uuids = [first.append(fence("a")), first.append(fence("b"))].map((r) => r.event_uuid);
    await first.close();
    await Deno.writeTextFile(first.path, '{"schema_version":1,"seq', { append: true });
    const problems: string[] = [];
    const again = await EvidenceSpool.recover(dir, "s3", { onProblem: (e) => problems.push(e) });
    assert(again !== undefined);
    assertEquals(problems, ["evidence_spool_torn_line"]);
    assertEquals(again.lastSequence, 2);
    assertEquals(again.unacked().map((r) => r.event_uuid), uuids);
    again.append(fence("c", true));
    await again.flush();
    const got = await lines(again.path);
    assertEquals(got.map((r) => r.sequence), [1, 2, 3]);
    assertEquals(got[2].final, true);
    await again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("acks: mark kept beside the spool, acked prefix compacted away, recovery resumes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool_test_" });
  try {
    const spool = await EvidenceSpool.create(dir, meta("s4"), { compactBytes: 1 });
    for (const b of ["a", "b", "c", "d"]) spool.append(fence(b));
    await spool.flush();
    await spool.ack(2);
    assertEquals((await Deno.readTextFile(`${dir}/s4.ack`)).trim(), "2");
    assertEquals((await lines(spool.path)).map((r) => r.sequence), [3, 4]);
    await spool.ack(1); // never goes down
    assertEquals((await Deno.readTextFile(`${dir}/s4.ack`)).trim(), "2");
    spool.append(fence("e"));
    await spool.flush();
    assertEquals((await lines(spool.path)).map((r) => r.sequence), [3, 4, 5]);
    await spool.close();
    assertEquals(
      (await Array.fromAsync(Deno.readDir(dir))).some((e) => e.name.endsWith(".tmp")),
      false,
    );

    const again = (await EvidenceSpool.recover(dir, "s4"))!;
    assertEquals(again.acked, 2);
    assertEquals(again.lastSequence, 5);
    assertEquals(again.unacked().map((r) => r.sequence), [3, 4, 5]);
    assertEquals(again.append(fence("f")).sequence, 6);
    await again.flush();
    await again.ack(6);
    await again.close();
    // Everything acked and compacted: the next sequence still continues.
    const third = (await EvidenceSpool.recover(dir, "s4"))!;
    assertEquals(third.lastSequence, 6);
    assertEquals(third.unacked(), []);
    await third.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("one owner at a time; removal only once acked to the final event", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool_test_" });
  try {
    const spool = await EvidenceSpool.create(dir, meta("s5"));
    assertEquals(await EvidenceSpool.recover(dir, "s5"), undefined); // locked
    spool.append(fence("a"));
    await spool.flush();
    await spool.ack(1);
    assertEquals(spool.done, false); // no final event yet
    let refused = false;
    await spool.remove().catch(() => refused = true);
    assertEquals(refused, true);
    spool.append(terminatedPayload(Date.now(), "EVIDENCE_SPOOL_FULL", "test"));
    let afterFinal = false;
    try {
      spool.append(fence("late"));
    } catch {
      afterFinal = true;
    }
    assertEquals(afterFinal, true);
    await spool.flush();
    await spool.ack(2);
    assertEquals(spool.done, true);
    await spool.remove();
    assertEquals(await EvidenceSpool.list(dir), []);
    assertEquals([...Deno.readDirSync(dir)].length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("disk full: the write fails, nothing is dropped or torn, the retry writes it all", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool_full_" });
  try {
    const child = new URL("./evidence/disk_full_child.ts", import.meta.url).pathname;
    const out = await new Deno.Command("unshare", {
      args: [
        "-m",
        "sh",
        "-c",
        `mount -t tmpfs -o size=64k tmpfs "$0" && exec "$1" run -A "$2" "$0"`,
        dir,
        Deno.execPath(),
        child,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.success, true, stderr);
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    assertEquals(r.failedFirst, true, JSON.stringify(r));
    assertEquals(r.problems.includes("evidence_spool_write_recovered"), true);
    assertEquals(r.sequences, Array.from({ length: 20 }, (_, i) => i + 1));
    assertEquals(r.endsWithNewline, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
