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
import { analyzeTs } from "../media/ts_analyzer.ts";

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

/**
 * Records `fanout.bytesIn` at each viewer's subscribe, in subscribe order: the link opens one
 * viewer per connection, so entry `i` belongs to the `i`-th accepted peer.
 */
function pushedAtSubscribe(fanout: TsFanout): number[] {
  const at: number[] = [];
  fanout.onViewer((e) => {
    if (e.type === "connect") at.push(fanout.bytesIn);
  });
  return at;
}

/** Offset of the last packet before `end` in `stream` on `pid` that starts a payload unit. */
function lastUnitStart(stream: Uint8Array, pid: number, end: number): number {
  for (let o = Math.floor(end / PACKET) * PACKET - PACKET; o >= 0; o -= PACKET) {
    if (pidAt(stream, o) === pid && pusiAt(stream, o)) return o;
  }
  throw new Error(`no unit start on PID ${pid} before ${end}`);
}

/**
 * Checks a peer's bytes against the exact stream the fan-out was fed (`stream`, its first
 * `pushed` bytes pushed when the peer's viewer subscribed): aligned packets, then the PAT and
 * PMT in force at the last keyframe pushed by then, then every byte of `stream` from that
 * keyframe on, over what arrived. Returns the keyframe's offset in `stream`.
 *
 * The offset is derived from `pushed`, not searched for: the looped source repeats every
 * keyframe byte for byte, so a search cannot tell the copies apart.
 */
function assertCleanStart(got: Uint8Array, stream: Uint8Array, pushed: number): number {
  assert(got.length >= 3 * PACKET, `only ${got.length} bytes`);
  for (let o = 0; o + PACKET <= got.length; o += PACKET) {
    if (got[o] !== 0x47) throw new Error(`no sync byte at ${o}`);
  }
  const cached = keyframeOffsets(stream, videoPid).filter((o) => o < pushed);
  assert(cached.length > 0, `no keyframe in the first ${pushed} bytes`);
  const k = cached[cached.length - 1];
  const pat = lastUnitStart(stream, 0, k);
  const pmt = lastUnitStart(stream, program.pmtPid, k);
  assert(sameBytes(got.subarray(0, PACKET), stream.subarray(pat, pat + PACKET)), "PAT first");
  assert(sameBytes(got.subarray(PACKET, 2 * PACKET), stream.subarray(pmt, pmt + PACKET)), "PMT");
  assert(randomAccessAt(got, 2 * PACKET), "an IDR third");
  const body = got.subarray(2 * PACKET);
  assert(k + body.length <= stream.length, `${body.length} bytes from ${k}: more than was fed`);
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== stream[k + i]) {
      throw new Error(`byte ${i} after the keyframe at ${k} differs from the stream`);
    }
  }
  return k;
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
  const subscribedAt = pushedAtSubscribe(fanout);
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
  const pushedAtKill = fanout.bytesIn;
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
  assertEquals(subscribedAt.length, 2);
  // The first viewer got the GOP cached at connect: the prefix's keyframe 1.
  assertEquals(assertCleanStart(peers[0].received(), stream, subscribedAt[0]), keyframes[1]);
  // The second one subscribed after Core came back, so it starts from a fresh GOP.
  assert(subscribedAt[1] >= pushedAtKill, `re-subscribed at ${subscribedAt[1]}`);
  assertCleanStart(second[0].received(), stream, subscribedAt[1]);
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
  const subscribedAt = pushedAtSubscribe(fanout);
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
  const pushedAtKill = fanout.bytesIn;
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
  assertEquals(subscribedAt.length, 2);
  assertEquals(assertCleanStart(peers[0].received(), full, subscribedAt[0]), keyframes[0]);
  assert(subscribedAt[1] >= pushedAtKill, `re-subscribed at ${subscribedAt[1]}`);
  assertCleanStart(peers[1].received(), full, subscribedAt[1]);
  listener.close();
});

Deno.test("attach: a reconnect starts at the GOP cached then, not at an earlier identical copy", async () => {
  // No timer-paced feed: the test pushes, so the reconnect's splice point is known exactly.
  // The prefix holds keyframe 0 and 40 packets; the stream then repeats keyframe 0 byte for byte,
  // so a start found by content alone would be ambiguous.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const peers = accept(listener);
  const fanout = new TsFanout();
  const subscribedAt = pushedAtSubscribe(fanout);
  const prefix = source.bytes.slice(0, keyframes[0] + 40 * PACKET);
  const full = concatBytes([prefix, source.bytes, source.bytes]);
  fanout.push(full.slice(0, prefix.length));
  const link = await StreamAttach.connect({
    transport: "tcp",
    endpoint: `127.0.0.1:${listener.addr.port}`,
    fanout,
    backoffInitialMs: 10,
  });
  await until(() => subscribedAt.length === 1, "first viewer");
  // Up to 100 packets past the stream's own copy of keyframe 0, then Core goes away.
  const dropAt = prefix.length + keyframes[0] + 100 * PACKET;
  fanout.push(full.slice(prefix.length, dropAt));
  const firstBytes = 2 * PACKET + dropAt - keyframes[0];
  await until(() => peers.length === 1 && peers[0].bytes === firstBytes, "first peer data");
  await peers[0].kill();
  await until(() => subscribedAt.length === 2 && link.connected, "reconnect");
  fanout.push(full.slice(dropAt));
  const k = prefix.length + keyframes[0];
  const secondBytes = 2 * PACKET + full.length - k;
  await until(() => peers.length === 2 && peers[1].bytes === secondBytes, "second peer data");
  fanout.close();
  await link.stopped;
  await peers[1].done;
  assertEquals(link.reconnects, 1);
  assertEquals(assertCleanStart(peers[0].received(), full, subscribedAt[0]), keyframes[0]);
  assertEquals(subscribedAt[1], dropAt);
  assertEquals(assertCleanStart(peers[1].received(), full, subscribedAt[1]), k);
  assertEquals(peers[1].bytes, secondBytes);
  listener.close();
});

Deno.test("attach: a peer that stops reading is dropped and re-attached fresh", async () => {
  const path = `${dir}/slow.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const peers = accept(listener, (i) => i > 0); // The first connection never reads.
  const fanout = new TsFanout();
  const subscribedAt = pushedAtSubscribe(fanout);
  let pushedAtDrop = -1;
  fanout.onViewer((e) => {
    if (e.reason === "overflow") pushedAtDrop = fanout.bytesIn;
  });
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
  assertEquals(subscribedAt.length, 2);
  assert(pushedAtDrop > 0 && subscribedAt[1] >= pushedAtDrop, `${subscribedAt}, ${pushedAtDrop}`);
  assertCleanStart(
    peers[1].received(),
    concatBytes([source.bytes.slice(0, keyframes[0] + PACKET), stream]),
    subscribedAt[1],
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
