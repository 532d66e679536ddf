/**
 * Frame sink over TCP (for Windows and Renderers on an adjacent host): the same behaviours as
 * the unix socket, plus one sink serving a unix and a TCP reader at once.
 */

import { assert, assertEquals, assertRejects } from "./assert.ts";
import { FrameSink, FrameSinkListenError } from "../src/outputs/frame_sink.ts";
import {
  connect,
  frameIsIntact,
  makeFrame,
  sequences,
  sleep,
  SMALL_FORMAT,
  TestReader,
  waitFor,
} from "./frame_sink_fixtures.ts";
import {
  deliversPushedFrames,
  reconnectResumesAtFrameBoundary,
  slowReaderLosesWholeFrames,
} from "./frame_sink_scenarios.ts";

const LOCAL = { transport: "tcp" as const, hostname: "127.0.0.1", port: 0 };

Deno.test("tcp: a reader receives every pushed frame with matching headers", async () => {
  await deliversPushedFrames(LOCAL);
});

Deno.test("tcp: a reader paused for 2 s loses whole frames; push never blocks", async () => {
  await slowReaderLosesWholeFrames(LOCAL);
});

Deno.test("tcp: a reader that reconnects resumes at a frame boundary", async () => {
  await reconnectResumesAtFrameBoundary(LOCAL);
});

Deno.test("tcp: a port in use is refused with the endpoint named", async () => {
  const holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const e = await assertRejects(
      () =>
        FrameSink.open({
          channelId: 1,
          format: SMALL_FORMAT,
          endpoints: [{ transport: "tcp", hostname: "127.0.0.1", port: holder.addr.port }],
        }),
      FrameSinkListenError,
    );
    assertEquals(e.endpoint, `127.0.0.1:${holder.addr.port}`);
  } finally {
    holder.close();
  }
});

Deno.test("one sink feeds a unix and a TCP reader the same frames", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rv-sink-" });
  const sink = await FrameSink.open({
    channelId: 9,
    format: SMALL_FORMAT,
    endpoints: [{ transport: "unix", path: `${dir}/playout-9` }, LOCAL],
  });
  try {
    assertEquals(sink.endpoints.map((e) => e.transport), ["unix", "tcp"]);
    const readers = await Promise.all(
      sink.endpoints.map(async (e) => new TestReader(await connect(e))),
    );
    await waitFor(() => sink.stats.readers === 2, "both readers");
    for (let k = 0; k < 10; k++) {
      sink.push(makeFrame(k));
      await sleep(5);
    }
    await waitFor(() => readers.every((r) => r.frames.length === 10), "10 frames each");
    for (const r of readers) {
      assertEquals(sequences(r.frames), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert(r.frames.every((f) => frameIsIntact(f)), "intact");
      assertEquals(r.stream?.channelId, 9);
    }
    assertEquals(sink.stats.framesSent, 20);
  } finally {
    await sink.close();
    await Deno.remove(dir, { recursive: true });
  }
});
