/**
 * The channel-state rules of control calls (src/engine/control_rules.ts), checked once and
 * applied by both the gRPC service and the channel manager: which code each refusal carries and
 * that its message names the offending values.
 */

import { assert, assertEquals } from "./assert.ts";
import {
  checkCanAttach,
  checkCanStartBlockSession,
  checkContiguous,
  checkStartedBySegment,
} from "../src/engine/control_rules.ts";
import { ControlError } from "../src/engine/control_surface.ts";
import type { ChannelInfo } from "../media/channel_status.ts";
import { DEFAULT_PROGRAM_FORMAT } from "../media/program_format.ts";

function info(over: Partial<ChannelInfo>): ChannelInfo {
  return {
    id: 4,
    name: "four",
    state: "ready",
    stateReason: "on air",
    format: DEFAULT_PROGRAM_FORMAT,
    startedAtMs: 0,
    mode: "idle",
    meantOnAir: false,
    attached: undefined,
    ...over,
  };
}

/** The refusal `fn` throws (undefined when it accepts). */
function refusal(fn: () => void): ControlError | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof ControlError) return err;
    throw err;
  }
}

const SOCKET = { transport: "unix" as const, endpoint: "/run/core/4.sock" };

Deno.test("a block session needs no session running and an attached stream, in that order", () => {
  assertEquals(refusal(() => checkCanStartBlockSession(4, undefined))?.code, "STREAM_NOT_ATTACHED");
  assertEquals(
    refusal(() => checkCanStartBlockSession(4, info({ mode: "segment" })))?.code,
    "STREAM_NOT_ATTACHED",
  );
  // A running session is reported before the missing stream.
  assertEquals(
    refusal(() => checkCanStartBlockSession(4, info({ mode: "block" })))?.code,
    "ALREADY_ACTIVE",
  );
  assertEquals(
    refusal(() => checkCanStartBlockSession(4, info({ mode: "block", attached: SOCKET })))?.code,
    "ALREADY_ACTIVE",
  );
  assertEquals(refusal(() => checkCanStartBlockSession(4, info({ attached: SOCKET }))), undefined);
});

Deno.test("blocks must follow each other without a gap; the refusal names both times", () => {
  const span = (name: string, startUtcMs: number, endUtcMs: number) => ({
    startUtcMs,
    endUtcMs,
    startName: `${name}.start`,
    endName: `${name}.end`,
  });
  assertEquals(refusal(() => checkContiguous([])), undefined);
  assertEquals(refusal(() => checkContiguous([span("a", 0, 10)])), undefined);
  assertEquals(
    refusal(() => checkContiguous([span("a", 0, 10), span("b", 10, 30), span("c", 30, 31)])),
    undefined,
  );
  for (const start of [9, 11]) {
    const err = refusal(() => checkContiguous([span("a", 0, 10), span("b", start, 30)]));
    assertEquals(err?.code, "NOT_CONTIGUOUS");
    assert(err!.message.includes("a.end (10)"), err!.message);
    assert(err!.message.includes(`b.start (${start})`), err!.message);
  }
  const late = refusal(() =>
    checkContiguous([span("a", 0, 10), span("b", 10, 20), span("c", 25, 30)])
  );
  assert(late!.message.includes("b.end (20)") && late!.message.includes("c.start (25)"));
});

Deno.test("attaching an attached channel needs replace_existing", () => {
  const attached = info({ attached: SOCKET });
  const busy = refusal(() => checkCanAttach(4, attached, false));
  assertEquals(busy?.code, "REJECTED_BUSY");
  assert(busy!.message.includes("unix:/run/core/4.sock"), busy!.message);
  assertEquals(refusal(() => checkCanAttach(4, attached, true)), undefined);
  assertEquals(refusal(() => checkCanAttach(4, info({}), false)), undefined);
  assertEquals(refusal(() => checkCanAttach(4, undefined, false)), undefined);
});

Deno.test("segment-mode calls need a channel StartChannel started", () => {
  for (const mode of ["idle", "standalone", "block"] as const) {
    const err = refusal(() => checkStartedBySegment(4, info({ mode })));
    assertEquals(err?.code, "NOT_READY", mode);
    assert(err!.message.includes("StartChannel"), err!.message);
  }
  assertEquals(refusal(() => checkStartedBySegment(4, undefined))?.code, "NOT_READY");
  assertEquals(refusal(() => checkStartedBySegment(4, info({ mode: "segment" }))), undefined);
});
