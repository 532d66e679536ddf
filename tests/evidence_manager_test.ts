/**
 * The channel manager hands a block session's as-run events from the channel's worker to the
 * evidence layer (here a recorder standing in for it) under the session id the layer gave,
 * closes the session after its final fence, and refuses the session when the evidence layer
 * refuses it (nothing starts). Real Worker, virtual clock.
 */

import { assertEquals, assertRejects } from "./assert.ts";
import { coreSocketStandIn, quietLog, TEST_FORMAT, testManager } from "./manager_fixtures.ts";
import { ControlError } from "../src/engine/control_surface.ts";
import type { EvidenceSessions, EvidenceTarget } from "../src/engine/evidence_sessions.ts";
import type { AsRunEvent } from "../src/engine/as_run.ts";
import { until } from "./egress_fixtures.ts";
import { block, segment } from "./plan_builders.ts";

const FMT = TEST_FORMAT;

class Recorder implements EvidenceSessions {
  opened: EvidenceTarget[] = [];
  events: [string, AsRunEvent][] = [];
  closedIds: string[] = [];
  terminatedIds: string[] = [];
  refuse = false;
  open(target: EvidenceTarget): Promise<string> {
    if (this.refuse) {
      return Promise.reject(new ControlError("FAILED", "EVIDENCE_SPOOL_FULL: test"));
    }
    this.opened.push(target);
    return Promise.resolve(`session-${this.opened.length}`);
  }
  event(sessionId: string, event: AsRunEvent): void {
    this.events.push([sessionId, event]);
  }
  terminated(sessionId: string): void {
    this.terminatedIds.push(sessionId);
  }
  closed(sessionId: string): void {
    this.closedIds.push(sessionId);
  }
}

Deno.test("as-run events reach the evidence layer under its session id; a refused session does not start", async () => {
  const evidence = new Recorder();
  const manager = testManager({
    log: quietLog(),
    virtualClock: true,
    leadMs: 200,
    evidence,
  });
  const dir = await Deno.makeTempDir({ prefix: "evidence_manager_" });
  const core = coreSocketStandIn(`${dir}/core.sock`);
  try {
    await manager.attachStream(6, "unix", `${dir}/core.sock`, true);
    const t0 = Date.now() + 1000;
    const a = block("A", t0, [segment(0, "", 400), segment(1, "", 400)], 6);
    const b = block("B", a.endUtcMs, [segment(0, "", 400)], 6);
    await manager.startBlockSession(6, [a, b], 0, FMT, 2, {
      endpoint: "127.0.0.1:9",
      channelIdStr: "ch-six",
    });
    assertEquals(evidence.opened, [{
      channel: 6,
      channelIdStr: "ch-six",
      endpoint: "127.0.0.1:9",
    }]);
    await until(() => evidence.closedIds.length > 0, "the session's record to close");
    assertEquals(evidence.closedIds, ["session-1"]);
    assertEquals(new Set(evidence.events.map(([id]) => id)), new Set(["session-1"]));
    const kinds = evidence.events.map(([, e]) =>
      e.kind === "block_fence" ? `${e.kind}:${e.blockId}:${e.final}` : `${e.kind}:${e.blockId}`
    );
    assertEquals(kinds, [
      "block_start:A",
      "segment_start:A",
      "segment_end:A",
      "segment_start:A",
      "segment_end:A",
      "block_fence:A:false",
      "block_start:B",
      "segment_start:B",
      "segment_end:B",
      "block_fence:B:true",
    ]);
    assertEquals(evidence.terminatedIds, []);

    evidence.refuse = true;
    const t1 = Date.now() + 60_000;
    await assertRejects(
      () =>
        manager.startBlockSession(6, [block("C", t1, [segment(0, "", 400)], 6)], 0, FMT, 2, {
          endpoint: "127.0.0.1:9",
          channelIdStr: "ch-six",
        }),
      ControlError,
      "EVIDENCE_SPOOL_FULL",
    );
    assertEquals(manager.get(6)?.mode === "block", false);
  } finally {
    await manager.close();
    await core.close();
    await Deno.remove(dir, { recursive: true });
  }
});
