/**
 * src/endpoints/: the one parser of `host:port` (gRPC TCP listeners, frame-sink TCP endpoints,
 * the attach target, `--metrics-port`, evidence targets) and the one reading of `file:` URIs.
 */

import { assertEquals } from "./assert.ts";
import { formatHostPort, isDialTarget, parseHostPort } from "../src/endpoints/host_port.ts";
import { pathOfLocation } from "../src/endpoints/file_uri.ts";
import { parseFrameSinkEndpoint } from "../src/outputs/frame_sink.ts";
import { parseEndpoint } from "../src/outputs/stream_attach.ts";
import { parseMetricsPortFlag } from "../src/config/cli.ts";

Deno.test("host:port: names, IPv4, bracketed IPv6; the port range depends on the caller", () => {
  assertEquals(parseHostPort("127.0.0.1:50051"), { host: "127.0.0.1", port: 50051 });
  assertEquals(parseHostPort("[::1]:9308"), { host: "::1", port: 9308 });
  assertEquals(parseHostPort("core.local:1"), { host: "core.local", port: 1 });
  for (const bad of ["127.0.0.1", ":80", "a b:80", "[::1:80", "h:65536", "h:123456", "::1:80"]) {
    assertEquals(parseHostPort(bad), undefined, bad);
  }
  assertEquals(parseHostPort("h:0"), undefined);
  assertEquals(parseHostPort("h:0", { minPort: 0 }), { host: "h", port: 0 });
  assertEquals(formatHostPort("::1", 80), "[::1]:80");
  assertEquals(formatHostPort("localhost", 80), "localhost:80");
});

Deno.test("every caller reads host:port the same way", () => {
  assertEquals(parseFrameSinkEndpoint("[::1]:0"), { transport: "tcp", hostname: "::1", port: 0 });
  assertEquals(parseEndpoint("tcp", "[::1]:7000"), {
    transport: "tcp",
    hostname: "::1",
    port: 7000,
  });
  assertEquals(parseMetricsPortFlag("[::1]:0"), { bind: "::1", port: 0 });
  let refused = false;
  try {
    parseEndpoint("tcp", "h:0");
  } catch {
    refused = true;
  }
  assertEquals(refused, true, "the attach target needs a port 1..65535");
});

Deno.test("dial targets: host:port or unix:/path", () => {
  assertEquals(isDialTarget("127.0.0.1:50052"), true);
  assertEquals(isDialTarget("unix:/run/core/evidence.sock"), true);
  assertEquals(isDialTarget("unix:/"), false);
  assertEquals(isDialTarget("/run/core.sock"), false);
  assertEquals(isDialTarget("a/b:80"), false);
  assertEquals(isDialTarget("h:70000"), false);
});

Deno.test("file: URIs name a path; anything else is taken as one", () => {
  assertEquals(pathOfLocation("file:///media/ep%203.mkv"), "/media/ep 3.mkv");
  assertEquals(pathOfLocation("file:/media/a.mkv"), "/media/a.mkv");
  assertEquals(pathOfLocation("/media/a.mkv"), "/media/a.mkv");
  assertEquals(pathOfLocation("relative/a.mkv"), "relative/a.mkv");
  assertEquals(pathOfLocation("file://%zz"), undefined);
});
