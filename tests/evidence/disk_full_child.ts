/**
 * Child of tests/evidence_spool_test.ts, run inside `unshare -m` with a 64 KiB tmpfs at
 * Deno.args[0]: fills the disk, appends records (the write fails: ENOSPC), frees the disk, and
 * prints what the spool file holds once the retried write went through.
 */

import { EvidenceSpool } from "../../src/evidence/spool.ts";

const dir = Deno.args[0];
const problems: string[] = [];
const spool = await EvidenceSpool.create(dir, {
  kind: "retrovue-playout-evidence-session",
  channel_id: "disk-full",
  channel: 1,
  playout_session_id: "full",
  endpoint: "127.0.0.1:1",
  created_utc: "2026-12-01T00:00:00.000Z",
}, { flushMs: 20, onProblem: (e) => problems.push(e) });
// Fill the file system to the last byte.
const filler = await Deno.open(`${dir}/filler`, { write: true, create: true });
const block = new Uint8Array(1024);
try {
  for (;;) await filler.write(block);
} catch {
  try {
    for (;;) await filler.write(block.subarray(0, 1));
  } catch { /* full */ }
}
filler.close();
for (let i = 0; i < 20; i++) {
  spool.append({
    type: "block_start",
    emittedUtcMs: 0,
    final: false,
    body: { block_id: `b${i}`, pad: "x".repeat(100) },
  });
}
await spool.flush();
const failedFirst = problems.includes("evidence_spool_write_failed");
await Deno.remove(`${dir}/filler`);
for (let i = 0; i < 200 && spool.flushedSequence < 20; i++) {
  await new Promise((r) => setTimeout(r, 20));
}
const text = await Deno.readTextFile(spool.path);
await spool.close();
console.log(JSON.stringify({
  failedFirst,
  problems,
  sequences: text.split("\n").filter((l) => l).map((l) => JSON.parse(l).sequence),
  endsWithNewline: text.endsWith("\n"),
}));
