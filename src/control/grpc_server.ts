/**
 * The engine's gRPC server: `retrovue.playout.PlayoutControl`, `grpc.health.v1.Health` and
 * server reflection (v1alpha and v1), on a Unix socket and/or TCP addresses. grpc-js itself
 * listens on a private socket; the configured addresses relay to it, dropping the GOAWAY frames
 * clients send, which crash Deno's `node:http2` server (see `_goaway_relay.ts`).
 *
 * ```ts
 * const server = await startGrpcServer({
 *   surface,
 *   listen: { unix: { path: "/var/run/retrovue/playout.sock", mode: 0o660 },
 *             tcp: ["127.0.0.1:50051"] },
 *   log,
 * });
 * // ...
 * await server.close();
 * ```
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { ControlSurface } from "../engine/control_surface.ts";
import type { Logger } from "../log/log.ts";
import { HealthService } from "./health_service.ts";
import {
  HEALTH_SERVICE_NAME,
  loadPlayoutProto,
  PLAYOUT_SERVICE_NAME,
  REFLECTION_SERVICE_NAMES,
  serviceDefinition,
} from "./playout_proto.ts";
import { PlayoutService } from "./playout_service.ts";
import { ReflectionService } from "./reflection_service.ts";
import { bindUnixSocket, removeSocketFile } from "../endpoints/unix_socket.ts";
import { GoawayRelay, type RelayTarget } from "./_goaway_relay.ts";

/** Default Unix socket path. */
export const DEFAULT_SOCKET_PATH = "/var/run/retrovue/playout.sock";
/** Default Unix socket file mode. */
export const DEFAULT_SOCKET_MODE = 0o660;
/** Default largest message accepted or sent, bytes. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** How long `close()` lets calls finish before cutting them, ms. */
export const SHUTDOWN_GRACE_MS = 2000;

/** Where the server listens. At least one of `unix` and `tcp` must be given. */
export interface GrpcListenOptions {
  /** A Unix socket; `mode` defaults to 0660. */
  unix?: { path: string; mode?: number };
  /** TCP addresses as `host:port` (e.g. `127.0.0.1:50051`; port 0 picks a free port). */
  tcp?: string[];
}

/** Options of {@link startGrpcServer}. */
export interface GrpcServerOptions {
  surface: ControlSurface;
  listen: GrpcListenOptions;
  log: Logger;
  /** Returned by GetVersion; defaults to the proto's `PLAYOUT_API_VERSION`. */
  apiVersion?: string;
  /** Largest message accepted or sent, bytes; defaults to 16 MiB. */
  maxMessageBytes?: number;
}

/** A running server. */
export interface GrpcServerHandle {
  /** Bound addresses: `unix:/path` and `host:port` (with the actual port). */
  addresses: string[];
  /** Ends open streams, shuts the server down and removes the socket file. */
  close(): Promise<void>;
}

/** Binding an address failed. */
export class GrpcBindError extends Error {
  override name = "GrpcBindError";
  constructor(readonly address: string, cause: unknown) {
    super(`cannot listen on ${address}: ${(cause as Error)?.message ?? cause}`, { cause });
  }
}

/** No address to listen on was given. */
export class GrpcNoListenAddressError extends Error {
  override name = "GrpcNoListenAddressError";
  constructor(readonly listen: GrpcListenOptions) {
    super("the gRPC server needs a Unix socket path or a TCP address");
  }
}

/** Starts the gRPC server and resolves once every address is bound. */
export async function startGrpcServer(opts: GrpcServerOptions): Promise<GrpcServerHandle> {
  const { surface, listen } = opts;
  const log = opts.log.child({ component: "grpc" });
  const tcp = listen.tcp ?? [];
  if (listen.unix === undefined && tcp.length === 0) throw new GrpcNoListenAddressError(listen);

  const proto = loadPlayoutProto();
  const maxBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const server = new grpc.Server({
    "grpc.max_receive_message_length": maxBytes,
    "grpc.max_send_message_length": maxBytes,
  });
  const playout = new PlayoutService({
    surface,
    log,
    apiVersion: opts.apiVersion ?? proto.apiVersion,
  });
  const health = new HealthService({ surface, log });
  const services = [PLAYOUT_SERVICE_NAME, HEALTH_SERVICE_NAME, ...REFLECTION_SERVICE_NAMES];
  const reflection = new ReflectionService({ proto, services, log });
  server.addService(serviceDefinition(proto, PLAYOUT_SERVICE_NAME), playout.implementation());
  server.addService(serviceDefinition(proto, HEALTH_SERVICE_NAME), health.implementation());
  for (const name of REFLECTION_SERVICE_NAMES) {
    server.addService(serviceDefinition(proto, name), reflection.implementation());
  }

  // grpc-js listens privately; the public listeners relay to it (see _goaway_relay.ts).
  const { target, privateDir } = await bindPrivate(server);
  const relay = new GoawayRelay(
    target,
    (listener, reason) => log.debug("grpc_connection_error", { listener, reason }),
  );
  const addresses: string[] = [];
  let socket: { path: string; ino: number | null } | undefined;
  const shutdown = async () => {
    relay.stopAccepting();
    playout.close();
    health.close();
    reflection.close();
    await shutdownServer(server);
    relay.closeConnections();
    if (privateDir !== undefined) await Deno.remove(privateDir, { recursive: true });
    if (socket !== undefined) await removeSocketFile(socket.path, { ino: socket.ino });
  };

  try {
    if (listen.unix !== undefined) {
      const { path } = listen.unix;
      // Bound in a private directory, given its mode, then renamed into place: never
      // reachable with looser permissions than configured.
      const bound = await bindUnixSocket(
        path,
        listen.unix.mode ?? DEFAULT_SOCKET_MODE,
        (bindPath) => listenOn(`unix:${path}`, { transport: "unix", path: bindPath }),
        (listener) => listener.close(),
      );
      if (bound.previous === "stale") log.warn("grpc_stale_socket_removed", { path });
      socket = { path, ino: bound.ino };
      relay.serve(bound.bound, `unix:${path}`);
      addresses.push(`unix:${path}`);
    }
    for (const address of tcp) {
      const listener = listenOn(address, { transport: "tcp", ...hostPort(address) });
      const bound = address.replace(/:\d+$/, `:${(listener.addr as Deno.NetAddr).port}`);
      relay.serve(listener, bound);
      addresses.push(bound);
    }
  } catch (err) {
    await shutdown();
    throw err;
  }
  log.info("grpc_listening", { addresses, api_version: opts.apiVersion ?? proto.apiVersion });

  let closed: Promise<void> | undefined;
  return {
    addresses,
    close: () => {
      closed ??= shutdown().then(() => log.info("grpc_closed", { addresses }));
      return closed;
    },
  };
}

/**
 * Binds grpc-js where only the relay reaches it: a Unix socket in a fresh 0700 directory
 * (Windows: 127.0.0.1 on a free port).
 */
async function bindPrivate(
  server: grpc.Server,
): Promise<{ target: RelayTarget; privateDir?: string }> {
  if (Deno.build.os === "windows") {
    const port = await bind(server, "127.0.0.1:0");
    return { target: { transport: "tcp", hostname: "127.0.0.1", port } };
  }
  const privateDir = await Deno.makeTempDir({ prefix: "retrovue-playout-grpc-" });
  const path = `${privateDir}/grpc.sock`;
  try {
    await bind(server, `unix:${path}`);
  } catch (err) {
    await Deno.remove(privateDir, { recursive: true });
    throw err;
  }
  return { target: { transport: "unix", path }, privateDir };
}

/** `Deno.listen`, its failure a {@link GrpcBindError} naming `address`. */
function listenOn(
  address: string,
  opts: { transport: "unix"; path: string } | { transport: "tcp"; hostname: string; port: number },
): Deno.Listener {
  try {
    return opts.transport === "unix"
      ? Deno.listen({ transport: "unix", path: opts.path })
      : Deno.listen({ hostname: opts.hostname, port: opts.port });
  } catch (err) {
    throw new GrpcBindError(address, err);
  }
}

/** `host:port`, `[v6]:port` → its parts. */
function hostPort(address: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  if (m === null) throw new GrpcBindError(address, new Error("expected host:port"));
  const port = Number(m[3]);
  if (port > 65535) throw new GrpcBindError(address, new Error("port out of range"));
  return { hostname: m[1] ?? m[2], port };
}

function bind(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) reject(new GrpcBindError(address, err));
      else resolve(port);
    });
  });
}

function shutdownServer(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, SHUTDOWN_GRACE_MS);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
