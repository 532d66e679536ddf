/**
 * Frame sink on a Unix stream socket: delivery, slow and reconnecting readers, socket file
 * permissions, stale-file replacement, refusal of a live or foreign path, cleanup on close.
 */

import { assert, assertEquals, assertRejects } from "./assert.ts";
import {
  defaultFrameSinkEndpoint,
  FrameSink,
  FrameSinkEndpointError,
  FrameSinkListenError,
  parseFrameSinkEndpoint,
} from "../src/outputs/frame_sink.ts";
import type { ChannelFrameConsumer } from "../src/engine/channel_outputs.ts";
import { Logger } from "../src/log/log.ts";
import { connect, makeFrame, SMALL_FORMAT, TestReader, waitFor } from "./frame_sink_fixtures.ts";
import {
  deliversPushedFrames,
  openSink,
  reconnectResumesAtFrameBoundary,
  slowReaderLosesWholeFrames,
} from "./frame_sink_scenarios.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "rv-sink-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

Deno.test("unix: a reader receives every pushed frame with matching headers", async () => {
  await withTempDir(async (dir) => {
    await deliversPushedFrames({ transport: "unix", path: `${dir}/playout-3` });
  });
});

Deno.test("unix: a reader paused for 2 s loses whole frames; push never blocks", async () => {
  await withTempDir(async (dir) => {
    await slowReaderLosesWholeFrames({ transport: "unix", path: `${dir}/playout-3` });
  });
});

Deno.test("unix: a reader that reconnects resumes at a frame boundary", async () => {
  await withTempDir(async (dir) => {
    await reconnectResumesAtFrameBoundary({ transport: "unix", path: `${dir}/playout-3` });
  });
});

Deno.test("unix: socket file is 0660, in place while open, removed on close", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/run/playout-3`; // The directory is created when missing.
    const sink = await openSink({ transport: "unix", path });
    const info = await Deno.lstat(path);
    assert(info.isSocket, "a socket file");
    assertEquals((info.mode ?? 0) & 0o777, 0o660);
    assertEquals([...Deno.readDirSync(`${dir}/run`)].map((e) => e.name), ["playout-3"]);
    await sink.close();
    assertEquals(await exists(path), false);
  });
});

Deno.test("unix: a stale socket file is replaced", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/playout-3`;
    // A socket file with no listener behind it, as a crashed process leaves one.
    const bind = new Deno.Command("/usr/bin/python3", {
      args: ["-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", path],
    });
    assert((await bind.output()).success, "python made a stale socket");
    assert((await Deno.lstat(path)).isSocket);
    const sink = await openSink({ transport: "unix", path });
    try {
      const reader = new TestReader(await connect(sink.endpoints[0]));
      await waitFor(() => sink.hasReaders, "reader on the replaced socket");
      sink.push(makeFrame(0));
      await waitFor(() => reader.frames.length === 1, "a frame");
    } finally {
      await sink.close();
    }
  });
});

Deno.test("unix: a live socket or a regular file at the path is refused", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/playout-3`;
    const first = await openSink({ transport: "unix", path });
    try {
      const e = await assertRejects(
        () => openSink({ transport: "unix", path }),
        FrameSinkListenError,
      );
      assertEquals(e.endpoint, path);
      assert(e.message.includes("another process"), e.message);
      // The first sink still serves.
      const reader = new TestReader(await connect(first.endpoints[0]));
      await waitFor(() => first.hasReaders, "reader on the first sink");
      first.push(makeFrame(1));
      await waitFor(() => reader.frames.length === 1, "a frame from the first sink");
    } finally {
      await first.close();
    }
    const file = `${dir}/not-a-socket`;
    await Deno.writeTextFile(file, "keep me");
    await assertRejects(() => openSink({ transport: "unix", path: file }), FrameSinkListenError);
    assertEquals(await Deno.readTextFile(file), "keep me");
  });
});

Deno.test("unix: without readers frames are discarded and nothing is queued", async () => {
  await withTempDir(async (dir) => {
    const sink = await openSink({ transport: "unix", path: `${dir}/playout-3` });
    try {
      assertEquals(sink.hasReaders, false);
      for (let k = 0; k < 5; k++) sink.push(makeFrame(k));
      const s = sink.stats;
      assertEquals([s.framesPushed, s.framesDiscarded, s.framesSent, s.readers], [5, 5, 0, 0]);
      // A late reader starts with the next pushed frame, not a backlog.
      const reader = new TestReader(await connect(sink.endpoints[0]));
      await waitFor(() => sink.hasReaders, "reader");
      sink.push(makeFrame(5));
      await waitFor(() => reader.frames.length === 1, "one frame");
      assertEquals([reader.frames[0].header.frameNumber, reader.frames[0].header.sequence], [5, 5]);
    } finally {
      await sink.close();
    }
  });
});

Deno.test("unix: a frame of the wrong size or unwritable header is rejected, not sent", async () => {
  await withTempDir(async (dir) => {
    const sink = await openSink({ transport: "unix", path: `${dir}/playout-3` });
    try {
      const reader = new TestReader(await connect(sink.endpoints[0]));
      await waitFor(() => sink.hasReaders, "reader");
      const bad = makeFrame(0, { ...SMALL_FORMAT, width: 160, height: 120 });
      sink.push(bad);
      sink.push({ ...makeFrame(1), pts90k: -3000 }); // Not representable on the wire.
      sink.push(makeFrame(2));
      await waitFor(() => reader.frames.length === 1, "the good frame");
      assertEquals(reader.frames[0].header.frameNumber, 2);
      assertEquals(sink.stats.framesRejected, 2);
    } finally {
      await sink.close();
    }
  });
});

Deno.test("unix: readers beyond maxReaders are closed at once and logged", async () => {
  await withTempDir(async (dir) => {
    const lines: Record<string, unknown>[] = [];
    const log = new Logger({ write: (line) => lines.push(JSON.parse(line)) });
    const sink = await FrameSink.open({
      channelId: 3,
      format: SMALL_FORMAT,
      endpoints: [{ transport: "unix", path: `${dir}/playout-3` }],
      maxReaders: 1,
      log,
    });
    try {
      const first = new TestReader(await connect(sink.endpoints[0]));
      await waitFor(() => sink.hasReaders, "first reader");
      const second = new TestReader(await connect(sink.endpoints[0]), 1024);
      await second.done; // Closed by the sink without a byte.
      assertEquals(second.raw.length, 0);
      sink.push(makeFrame(0));
      await waitFor(() => first.frames.length === 1, "the first reader still served");
      assertEquals(sink.stats.readers, 1);
      const events = lines.map((l) => l.event);
      assert(events.includes("frame_sink_reader_refused"), JSON.stringify(events));
      assert(lines.every((l) => l.channel === 3), "channel on every line");
    } finally {
      await sink.close();
    }
  });
});

Deno.test("a FrameSink is the engine's ChannelFrameConsumer", async () => {
  await withTempDir(async (dir) => {
    const sink = await openSink({ transport: "unix", path: `${dir}/playout-3` });
    const consumer: ChannelFrameConsumer = sink;
    const seen: boolean[] = [];
    consumer.onReadersChanged = (has) => seen.push(has);
    try {
      const reader = new TestReader(await connect(sink.endpoints[0]));
      await waitFor(() => consumer.hasReaders, "hasReaders through the interface");
      consumer.push(makeFrame(2));
      await waitFor(() => reader.frames.length === 1, "a frame through the interface");
    } finally {
      await sink.close();
    }
    assertEquals(seen, [true, false]);
  });
});

Deno.test("endpoints: defaults, parsing, and the Windows pipe is refused", async () => {
  assertEquals(defaultFrameSinkEndpoint(4, "linux"), {
    transport: "unix",
    path: "/run/retrovue/playout-4",
  });
  assertEquals(defaultFrameSinkEndpoint(4, "windows"), {
    transport: "pipe",
    name: "\\\\.\\pipe\\retrovue-playout-4",
  });
  assertEquals(parseFrameSinkEndpoint("/tmp/x"), { transport: "unix", path: "/tmp/x" });
  assertEquals(parseFrameSinkEndpoint("10.0.0.2:9000"), {
    transport: "tcp",
    hostname: "10.0.0.2",
    port: 9000,
  });
  assertEquals(parseFrameSinkEndpoint("[::1]:9000"), {
    transport: "tcp",
    hostname: "::1",
    port: 9000,
  });
  for (const bad of ["nohost", "host:99999", "host:"]) {
    let caught: unknown;
    try {
      parseFrameSinkEndpoint(bad);
    } catch (e) {
      caught = e;
    }
    assert(caught instanceof FrameSinkEndpointError, `refused ${bad}`);
  }
  await assertRejects(
    () =>
      FrameSink.open({
        channelId: 4,
        format: SMALL_FORMAT,
        endpoints: [defaultFrameSinkEndpoint(4, "windows")],
      }),
    FrameSinkListenError,
    "TCP",
  );
});
