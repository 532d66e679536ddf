/**
 * The gRPC server from TypeScript (grpc-js) over its Unix socket and TCP: socket handling
 * (parent dir, mode, stale socket replaced, live one refused, file removed on close), health
 * Check/Watch, SubscribeBlockEvents streaming and NOT_FOUND, a SwitchToLive that waits for the
 * switch while LoadPreview is refused as busy, and shutdown with open streams.
 */

import { assert, assertEquals, assertRejects } from "./assert.ts";
import * as grpc from "@grpc/grpc-js";
import { GrpcBindError, startGrpcServer } from "../src/control/grpc_server.ts";
import { SocketInUseError, SocketPathOccupiedError } from "../src/endpoints/unix_socket.ts";
import { Logger } from "../src/log/log.ts";
import { FakeControlSurface } from "./grpc_client/fake_control_surface.ts";
import {
  type CallError,
  healthClient,
  playoutClient,
  serverStream,
  unary,
  type Wire,
} from "./grpc_client/grpc_js_client.ts";

function testLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return {
    log: new Logger({ level: "debug", write: (l) => lines.push(JSON.parse(l)) }),
    lines,
  };
}

async function withServer(
  fn: (ctx: {
    fake: FakeControlSurface;
    socket: string;
    dir: string;
    address: string;
    lines: Record<string, unknown>[];
  }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "grpc_server_test_" });
  const socket = `${dir}/run/retrovue/playout.sock`;
  const fake = new FakeControlSurface();
  const { log, lines } = testLogger();
  const server = await startGrpcServer({ surface: fake, listen: { unix: { path: socket } }, log });
  try {
    await fn({ fake, socket, dir, address: `unix:${socket}`, lines });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Binds a Unix socket in another process and exits, leaving a stale socket file behind. */
async function makeStaleSocket(path: string): Promise<void> {
  const out = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])", path],
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
}

const SEGMENT = {
  segment_index: 0,
  asset_uri: "",
  segment_duration_ms: "1000",
  segment_type: "SEGMENT_TYPE_PAD",
};

function block(id: string, start: number, end: number): Wire {
  return {
    block_id: id,
    start_utc_ms: String(start),
    end_utc_ms: String(end),
    segments: [{ ...SEGMENT, segment_duration_ms: String(end - start) }],
  };
}

Deno.test("unix socket: parent created, mode 0660, GetVersion answers, file removed on close", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grpc_server_test_" });
  try {
    const socket = `${dir}/a/b/playout.sock`;
    const { log } = testLogger();
    const server = await startGrpcServer({
      surface: new FakeControlSurface(),
      listen: { unix: { path: socket } },
      log,
    });
    assertEquals(server.addresses, [`unix:${socket}`]);
    const info = await Deno.lstat(socket);
    assert(info.isSocket);
    assertEquals(info.mode! & 0o777, 0o660);
    const client = playoutClient(`unix:${socket}`);
    assertEquals(await unary(client, "GetVersion", {}), { version: "1.0.0" });
    client.close();
    await server.close();
    await assertRejects(() => Deno.lstat(socket), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unix socket: configured mode is applied", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grpc_server_test_" });
  try {
    const socket = `${dir}/playout.sock`;
    const server = await startGrpcServer({
      surface: new FakeControlSurface(),
      listen: { unix: { path: socket, mode: 0o600 } },
      log: testLogger().log,
    });
    assertEquals((await Deno.lstat(socket)).mode! & 0o777, 0o600);
    await server.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unix socket: never created at its path, it arrives there already at its mode", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grpc_server_test_" });
  const watcher = Deno.watchFs(dir, { recursive: true });
  try {
    const socket = `${dir}/playout.sock`;
    const marker = `${dir}/marker`;
    const seen: Deno.FsEvent[] = [];
    const drained = (async () => {
      for await (const event of watcher) {
        seen.push(event);
        if (event.paths.includes(marker)) return;
      }
    })();
    const server = await startGrpcServer({
      surface: new FakeControlSurface(),
      listen: { unix: { path: socket, mode: 0o600 } },
      log: testLogger().log,
    });
    await Deno.writeTextFile(marker, ""); // events arrive in order: this one comes last
    await drained;
    const atPath = seen.filter((e) => e.paths.includes(socket));
    assert(atPath.length > 0, `no event for the socket: ${JSON.stringify(seen)}`);
    // A socket bound at its path shows up as "create" there (then chmod as "modify"): a moment
    // with the process umask's bits. Renamed in, it only ever appears with its final mode.
    assertEquals(atPath.filter((e) => e.kind === "create"), [], JSON.stringify(seen));
    assertEquals((await Deno.lstat(socket)).mode! & 0o777, 0o600);
    await server.close();
  } finally {
    watcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unix socket: a stale socket file from a crash is replaced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grpc_server_test_" });
  try {
    const socket = `${dir}/playout.sock`;
    await makeStaleSocket(socket);
    assert((await Deno.lstat(socket)).isSocket);
    const { log, lines } = testLogger();
    const server = await startGrpcServer({
      surface: new FakeControlSurface(),
      listen: { unix: { path: socket } },
      log,
    });
    assert(lines.some((l) => l.event === "grpc_stale_socket_removed" && l.path === socket));
    const client = playoutClient(`unix:${socket}`);
    assertEquals(await unary(client, "GetVersion", {}), { version: "1.0.0" });
    client.close();
    await server.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unix socket: a live socket is refused and left alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grpc_server_test_" });
  const socket = `${dir}/playout.sock`;
  const listener = Deno.listen({ transport: "unix", path: socket });
  try {
    const err = await assertRejects(
      () =>
        startGrpcServer({
          surface: new FakeControlSurface(),
          listen: { unix: { path: socket } },
          log: testLogger().log,
        }),
      SocketInUseError,
    );
    assertEquals(err.path, socket);
    assert((await Deno.lstat(socket)).isSocket);
    // The live server still works: a client can connect to it.
    const accepted = listener.accept();
    const conn = await Deno.connect({ transport: "unix", path: socket });
    (await accepted).close();
    conn.close();
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unix socket: a regular file at the path is refused, not removed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grpc_server_test_" });
  try {
    const path = `${dir}/playout.sock`;
    await Deno.writeTextFile(path, "precious");
    await assertRejects(
      () =>
        startGrpcServer({
          surface: new FakeControlSurface(),
          listen: { unix: { path } },
          log: testLogger().log,
        }),
      SocketPathOccupiedError,
    );
    assertEquals(await Deno.readTextFile(path), "precious");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tcp: port 0 binds a free port on 127.0.0.1 and answers", async () => {
  const server = await startGrpcServer({
    surface: new FakeControlSurface(),
    listen: { tcp: ["127.0.0.1:0"] },
    log: testLogger().log,
    apiVersion: "9.9.9-test",
  });
  try {
    assertEquals(server.addresses.length, 1);
    assert(/^127\.0\.0\.1:[1-9]\d*$/.test(server.addresses[0]), String(server.addresses[0]));
    const client = playoutClient(server.addresses[0]);
    assertEquals(await unary(client, "GetVersion", {}), { version: "9.9.9-test" });
    client.close();
  } finally {
    await server.close();
  }
});

Deno.test("tcp: an address in use fails with GrpcBindError and leaves no socket file", async () => {
  const first = await startGrpcServer({
    surface: new FakeControlSurface(),
    listen: { tcp: ["127.0.0.1:0"] },
    log: testLogger().log,
  });
  const dir = await Deno.makeTempDir({ prefix: "grpc_server_test_" });
  try {
    const socket = `${dir}/playout.sock`;
    const err = await assertRejects(
      () =>
        startGrpcServer({
          surface: new FakeControlSurface(),
          listen: { unix: { path: socket }, tcp: [first.addresses[0]] },
          log: testLogger().log,
        }),
      GrpcBindError,
    );
    assertEquals(err.address, first.addresses[0]);
    await assertRejects(() => Deno.lstat(socket), Deno.errors.NotFound);
  } finally {
    await first.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("messages over 16 MiB are refused with RESOURCE_EXHAUSTED; under it they pass", async () => {
  await withServer(async ({ fake, address }) => {
    const client = playoutClient(address);
    try {
      const huge = await unary(client, "StartChannel", {
        channel_id: 1,
        plan_handle: "x".repeat(17 * 1024 * 1024),
      }).then(() => undefined, (e: CallError) => e);
      assertEquals(huge?.code, grpc.status.RESOURCE_EXHAUSTED);
      // 5 MiB (over gRPC's usual 4 MiB default) reaches validation, which names the field.
      const big = await unary(client, "StartChannel", {
        channel_id: 1,
        plan_handle: "x".repeat(5 * 1024 * 1024),
      });
      assertEquals(big.success, false);
      assert(String(big.message).includes("plan_handle"), String(big.message));
      assertEquals(fake.calls, []);
    } finally {
      client.close();
    }
  });
});

Deno.test("health: Check follows channel states; unknown service is NOT_FOUND", async () => {
  await withServer(async ({ fake, address }) => {
    const client = healthClient(address);
    try {
      assertEquals(await unary(client, "Check", { service: "" }), { status: "SERVING" });
      fake.addChannel(1, { state: "ready" });
      fake.addChannel(2, { state: "stopped" });
      assertEquals(
        await unary(client, "Check", { service: "retrovue.playout.PlayoutControl" }),
        { status: "SERVING" },
      );
      fake.setState(1, "buffering");
      assertEquals(await unary(client, "Check", { service: "" }), { status: "NOT_SERVING" });
      fake.setState(1, "error");
      assertEquals(await unary(client, "Check", { service: "" }), { status: "NOT_SERVING" });
      const err = await unary(client, "Check", { service: "no.such.Service" }).then(
        () => undefined,
        (e: CallError) => e,
      );
      assertEquals(err?.code, grpc.status.NOT_FOUND);
    } finally {
      client.close();
    }
  });
});

Deno.test("health: Watch sends the status and every change", async () => {
  await withServer(async ({ fake, address }) => {
    fake.addChannel(1, { state: "buffering" });
    const client = healthClient(address);
    try {
      const { done } = serverStream(client, "Watch", { service: "" }, {
        max: 2,
        onMessage: (m) => {
          if (m.status === "NOT_SERVING") fake.setState(1, "ready");
        },
      });
      const { messages, error } = await done;
      assertEquals(error, undefined);
      assertEquals(messages, [{ status: "NOT_SERVING" }, { status: "SERVING" }]);
      const unknown = serverStream(client, "Watch", { service: "nope" }, { max: 1 });
      assertEquals((await unknown.done).messages, [{ status: "SERVICE_UNKNOWN" }]);
    } finally {
      client.close();
    }
  });
});

Deno.test("SubscribeBlockEvents: NOT_FOUND without a session; INVALID_ARGUMENT for id 0", async () => {
  await withServer(async ({ address }) => {
    const client = playoutClient(address);
    try {
      const missing = await serverStream(client, "SubscribeBlockEvents", { channel_id: 4 }).done;
      assertEquals(missing.error?.code, grpc.status.NOT_FOUND);
      const bad = await serverStream(client, "SubscribeBlockEvents", { channel_id: 0 }).done;
      assertEquals(bad.error?.code, grpc.status.INVALID_ARGUMENT);
      assert(/channel_id/.test(bad.error!.details), String(bad.error!.details));
    } finally {
      client.close();
    }
  });
});

Deno.test("SubscribeBlockEvents: events reach every subscriber in order; SessionEnded ends the streams", async () => {
  await withServer(async ({ fake, address }) => {
    const client = playoutClient(address);
    try {
      fake.addChannel(7, { attached: { transport: "unix", endpoint: "/tmp/x.sock" } });
      const start = await unary(client, "StartBlockPlanSession", {
        channel_id: 7,
        block_a: block("a", 1_000_000, 1_001_000),
        block_b: block("b", 1_001_000, 1_002_000),
      });
      assertEquals(start.result_code, "BLOCKPLAN_RESULT_OK");
      const s1 = serverStream(client, "SubscribeBlockEvents", { channel_id: 7 });
      const s2 = serverStream(client, "SubscribeBlockEvents", { channel_id: 7 });
      while ((fake.listeners.get(7)?.size ?? 0) < 2) {
        await new Promise((r) => setTimeout(r, 10));
      }
      fake.emit(7, {
        kind: "block_started",
        blockId: "a",
        blockStartUtcMs: 1_000_000,
        blockEndUtcMs: 1_001_000,
      });
      fake.emit(7, {
        kind: "block_completed",
        blockId: "a",
        blockStartUtcMs: 1_000_000,
        blockEndUtcMs: 1_001_000,
        finalCtMs: 1000,
        blocksExecutedTotal: 1,
      });
      fake.emit(7, {
        kind: "session_ended",
        reason: "lookahead_exhausted",
        finalCtMs: 2000,
        blocksExecutedTotal: 2,
      });
      const expected = [
        {
          channel_id: 7,
          event: "block_started",
          block_started: {
            block_id: "a",
            block_start_utc_ms: "1000000",
            block_end_utc_ms: "1001000",
          },
        },
        {
          channel_id: 7,
          event: "block_completed",
          block_completed: {
            block_id: "a",
            block_start_utc_ms: "1000000",
            block_end_utc_ms: "1001000",
            final_ct_ms: "1000",
            blocks_executed_total: 1,
          },
        },
        {
          channel_id: 7,
          event: "session_ended",
          session_ended: {
            reason: "lookahead_exhausted",
            final_ct_ms: "2000",
            blocks_executed_total: 2,
          },
        },
      ];
      for (const s of [s1, s2]) {
        const { messages, error } = await s.done;
        assertEquals(error, undefined);
        assertEquals(messages.map(stripUnsetOneofs), expected);
      }
      assertEquals(fake.unsubscribed, 2);
    } finally {
      client.close();
    }
  });
});

/** proto-loader fills unset oneof members with null; drop them for comparison. */
function stripUnsetOneofs(m: Wire): Wire {
  return Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null));
}

Deno.test("SubscribeBlockEvents: a client that cancels is unsubscribed", async () => {
  await withServer(async ({ fake, address }) => {
    fake.addChannel(3, { mode: "block" });
    const client = playoutClient(address);
    try {
      const { call, done } = serverStream(client, "SubscribeBlockEvents", { channel_id: 3 });
      await fake.waitFor("subscribeBlockEvents");
      call.cancel();
      const { error } = await done;
      assertEquals(error?.code, grpc.status.CANCELLED);
      while (fake.unsubscribed < 1) await new Promise((r) => setTimeout(r, 10));
      assertEquals(fake.listeners.get(3)?.size, 0);
    } finally {
      client.close();
    }
  });
});

Deno.test("SwitchToLive waits for the switch; LoadPreview meanwhile is REJECTED_BUSY", async () => {
  await withServer(async ({ fake, address }) => {
    const client = playoutClient(address);
    const tmp = await Deno.makeTempFile({ suffix: ".ts" });
    try {
      assertEquals(
        (await unary(client, "StartChannel", { channel_id: 2, plan_handle: tmp })).success,
        true,
      );
      const load = await unary(client, "LoadPreview", {
        channel_id: 2,
        asset_path: "/media/next.mkv",
        start_frame: "0",
        frame_count: "-1",
        fps_numerator: 30000,
        fps_denominator: 1001,
      });
      assertEquals(load.result_code, "RESULT_CODE_OK");
      assertEquals(load.shadow_decode_started, true);
      const now = Date.now();
      let settled = false;
      const target = now + 6000;
      const switching = unary(client, "SwitchToLive", {
        channel_id: 2,
        target_boundary_time_ms: String(target),
        issued_at_time_ms: String(now),
      }).finally(() => settled = true);
      await fake.waitFor("switchToLive");
      const busy = await unary(client, "LoadPreview", {
        channel_id: 2,
        asset_path: "/media/other.mkv",
        start_frame: "0",
        frame_count: "-1",
        fps_numerator: 25,
        fps_denominator: 1,
      });
      assertEquals(busy.success, false);
      assertEquals(busy.result_code, "RESULT_CODE_REJECTED_BUSY");
      assertEquals(settled, false);
      assertEquals(fake.callsOf("switchToLive"), [[2, target]]);
      fake.releaseSwitch(2, { ptsContiguous: true, livePts90k: 543543, completionUtcMs: target });
      const done = await switching;
      assertEquals(done, {
        success: true,
        message: "",
        pts_contiguous: true,
        live_start_pts: "543543",
        result_code: "RESULT_CODE_OK",
        switch_completion_time_ms: String(target),
        violation_reason: "",
      });
    } finally {
      client.close();
      await Deno.remove(tmp);
    }
  });
});

Deno.test("close() ends open event streams and health watches", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grpc_server_test_" });
  try {
    const socket = `${dir}/playout.sock`;
    const fake = new FakeControlSurface();
    fake.addChannel(5, { mode: "block" });
    const server = await startGrpcServer({
      surface: fake,
      listen: { unix: { path: socket } },
      log: testLogger().log,
    });
    const client = playoutClient(`unix:${socket}`);
    const health = healthClient(`unix:${socket}`);
    const events = serverStream(client, "SubscribeBlockEvents", { channel_id: 5 });
    const watch = serverStream(health, "Watch", { service: "" });
    await fake.waitFor("subscribeBlockEvents");
    await server.close();
    const [e, w] = await Promise.all([events.done, watch.done]);
    assertEquals(e.error, undefined);
    assertEquals(w.error, undefined);
    assertEquals(w.messages, [{ status: "SERVING" }]);
    assertEquals(fake.unsubscribed, 1);
    client.close();
    health.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
