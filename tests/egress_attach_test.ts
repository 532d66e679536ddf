import { assert, assertEquals, assertRejects } from "./assert.ts";
import {
  concatBytes,
  feedLive,
  keyframeOffsets,
  makeTs,
  PACKET,
  pidAt,
  pusiAt,
  randomAccessAt,
  sameBytes,
  until,
} from "./egress_fixtures.ts";
import {
  AttachConnectError,
  AttachEndpointError,
  StreamAttach,
} from "../src/outputs/stream_attach.ts";
import { TsFanout } from "../src/outputs/ts_fanout.ts";
import { analyzeTs } from "../src/outputs/ts_analyzer.ts";

const dir = await Deno.makeTempDir({ prefix: "egress_attach_" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const source = await makeTs(dir, { seconds: 3, gop: 15 });
const program = analyzeTs(source.bytes).programs[0];
const videoPid = program.pcrPid!;
const keyframes = keyframeOffsets(source.bytes, videoPid);

/** One accepted connection of the fake Core, read until EOF. */
class Peer {
  chunks: Uint8Array[] = [];
  bytes = 0;
  done: Promise<void>;
  constructor(readonly conn: Deno.Conn, read = true) {
    this.done = read ? this.#read() : Promise.resolve();
  }
  async #read(): Promise<void> {
    const buf = new Uint8Array(65536);
    try {
      for (let n = await this.conn.read(buf); n !== null; n = await this.conn.read(buf)) {
        this.chunks.push(buf.slice(0, n));
        this.bytes += n;
      }
    } catch (err) {
      // Interrupted/BadResource: we closed it (kill); ConnectionReset: the engine did.
      const closed = err instanceof Deno.errors.BadResource ||
        err instanceof Deno.errors.Interrupted || err instanceof Deno.errors.ConnectionReset;
      if (!closed) throw err;
    }
  }
  received(): Uint8Array {
    return concatBytes(this.chunks);
  }
  /** Closes the connection (Core going away). */
  async kill(): Promise<void> {
    this.conn.close();
    await this.done;
  }
}

/** A fake Core listening on `listener`, collecting every accepted connection. */
function accept(listener: Deno.Listener, read: (index: number) => boolean = () => true): Peer[] {
  const peers: Peer[] = [];
  (async () => {
    for await (const conn of listener) peers.push(new Peer(conn, read(peers.length)));
  })().catch((err) => {
    if (!(err instanceof Deno.errors.BadResource)) throw err;
  });
  return peers;
}

/** Checks a peer's bytes: aligned packets, PAT, PMT, IDR, then the source from a keyframe. */
function assertCleanStart(got: Uint8Array, stream: Uint8Array): void {
  assert(got.length >= 3 * PACKET, `only ${got.length} bytes`);
  for (let o = 0; o + PACKET <= got.length; o += PACKET) {
    if (got[o] !== 0x47) throw new Error(`no sync byte at ${o}`);
  }
  assertEquals(pidAt(got, 0), 0, "PAT first");
  assertEquals(pidAt(got, PACKET), program.pmtPid, "PMT second");
  assert(pidAt(got, 2 * PACKET) === videoPid && pusiAt(got, 2 * PACKET), "video third");
  assert(randomAccessAt(got, 2 * PACKET), "an IDR third");
  // The rest is the pushed stream from a keyframe (compared over what arrived).
  const body = got.subarray(2 * PACKET);
  const head = body.subarray(0, 2000);
  const k = keyframeOffsets(stream, videoPid).find((o) =>
    sameBytes(stream.subarray(o, o + head.length), head)
  );
  assert(k !== undefined, "does not continue from a keyframe");
  assert(sameBytes(body, stream.subarray(k, k + body.length)), "bytes differ from the stream");
}

/** `loops` copies of the source back to back. */
function looped(loops: number): Uint8Array {
  const out = new Uint8Array(source.bytes.length * loops);
  for (let i = 0; i < loops; i++) out.set(source.bytes, i * source.bytes.length);
  return out;
}

Deno.test("attach: a Unix socket peer gets aligned TS from PAT/PMT/IDR; restart resumes it", async () => {
  const path = `${dir}/core.sock`;
  let listener = Deno.listen({ transport: "unix", path });
  let peers = accept(listener);
  const fanout = new TsFanout();
  fanout.push(source.bytes.slice(0, keyframes[1] + 20 * PACKET));
  const link = await StreamAttach.connect({
    transport: "unix",
    endpoint: path,
    fanout,
    backoffInitialMs: 20,
    backoffMaxMs: 200,
  });
  const stop = new AbortController();
  const loops = 200;
  const feeding = feedLive(fanout, looped(loops), { signal: stop.signal, intervalMs: 2 });
  await until(() => peers.length === 1 && peers[0].bytes > 100_000, "first peer data");
  assert(link.connected);

  // Core goes away: listener and connection closed, socket file removed.
  listener.close(); // Deno removes the socket file with it.
  await Deno.remove(path).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  await assertRejects(() => Deno.lstat(path), Deno.errors.NotFound);
  await peers[0].kill();
  await until(() => !link.connected, "link to notice");
  await until(() => link.connectFailures >= 2, "failed retries while Core is down");

  listener = Deno.listen({ transport: "unix", path });
  const second = accept(listener);
  await until(() => second.length === 1 && second[0].bytes > 100_000, "second peer data");
  assertEquals(link.reconnects, 1);
  assert(link.connected);

  link.detach();
  await link.stopped;
  await second[0].done; // The peer sees EOF after detach.
  stop.abort();
  await feeding;
  assertEquals(fanout.viewerCount, 0);
  const stream = concatBytes([source.bytes.slice(0, keyframes[1] + 20 * PACKET), looped(loops)]);
  assertCleanStart(peers[0].received(), stream);
  assertCleanStart(second[0].received(), stream);
  // Bytes written to the first connection just before its peer was killed may sit unread in
  // the kernel's socket buffer, so the link can have sent more than the peers read; the second
  // peer, closed by a clean detach, read everything written to it.
  assert(link.bytesSent >= peers[0].bytes + second[0].bytes, `${link.bytesSent} sent`);
  peers = [];
  listener.close();
  fanout.close();
});

Deno.test("attach: TCP loopback works the same and reconnects when the peer drops", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const peers = accept(listener);
  const fanout = new TsFanout();
  fanout.push(source.bytes.slice(0, keyframes[0] + 40 * PACKET));
  const link = await StreamAttach.connect({
    transport: "tcp",
    endpoint: `127.0.0.1:${listener.addr.port}`,
    fanout,
    backoffInitialMs: 10,
  });
  const stop = new AbortController();
  const stream = looped(100);
  const feeding = feedLive(fanout, stream, { signal: stop.signal, intervalMs: 2 });
  await until(() => peers.length === 1 && peers[0].bytes > 50_000, "first peer data");
  await peers[0].kill();
  await until(() => peers.length === 2 && peers[1].bytes > 50_000, "reconnected peer data");
  assertEquals(link.reconnects, 1);
  stop.abort();
  await feeding;
  // The fan-out closing (channel stopped) ends the link for good.
  fanout.close();
  await link.stopped;
  await peers[1].done;
  assertEquals(link.reconnects, 1);
  const full = concatBytes([source.bytes.slice(0, keyframes[0] + 40 * PACKET), stream]);
  for (const p of peers) assertCleanStart(p.received(), full);
  listener.close();
});

Deno.test("attach: a peer that stops reading is dropped and re-attached fresh", async () => {
  const path = `${dir}/slow.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const peers = accept(listener, (i) => i > 0); // The first connection never reads.
  const fanout = new TsFanout();
  fanout.push(source.bytes.slice(0, keyframes[0] + PACKET));
  const link = await StreamAttach.connect({
    transport: "unix",
    endpoint: path,
    fanout,
    maxQueueBytes: 128 * 1024,
    backoffInitialMs: 10,
  });
  const stop = new AbortController();
  const stream = looped(40);
  const feeding = feedLive(fanout, stream, {
    signal: stop.signal,
    intervalMs: 0,
    packetsPerPush: [100],
  });
  await until(() => link.drops === 1 && peers.length === 2 && peers[1].bytes > 50_000, "re-attach");
  stop.abort();
  await feeding;
  link.detach();
  await link.stopped;
  await peers[1].done;
  assertEquals(fanout.viewersDropped, 1);
  assertEquals(link.reconnects, 1);
  assertCleanStart(
    peers[1].received(),
    concatBytes([source.bytes.slice(0, keyframes[0] + PACKET), stream]),
  );
  peers[0].conn.close();
  listener.close();
  fanout.close();
});

Deno.test("attach: a missing endpoint or a bad address is a typed error naming it", async () => {
  const fanout = new TsFanout();
  const missing = `${dir}/nobody-listens.sock`;
  const err = await assertRejects(
    () => StreamAttach.connect({ transport: "unix", endpoint: missing, fanout }),
    AttachConnectError,
    missing,
  );
  assertEquals(err.endpoint, missing);
  assertEquals(err.transport, "unix");
  assert(err.cause instanceof Deno.errors.NotFound, `cause ${err.cause}`);

  // A port nobody listens on: bind one, note it, close it.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  await assertRejects(
    () => StreamAttach.connect({ transport: "tcp", endpoint: `127.0.0.1:${port}`, fanout }),
    AttachConnectError,
    `127.0.0.1:${port}`,
  );
  for (const endpoint of ["127.0.0.1", "localhost:0", "host:99999", ":80", ""]) {
    await assertRejects(
      () => StreamAttach.connect({ transport: "tcp", endpoint, fanout }),
      AttachEndpointError,
    );
  }
  assertEquals(fanout.viewersTotal, 0);
  fanout.close();
});
