/**
 * STAND-IN for the engine wiring (the lead replaces this file wholesale). It keeps the
 * contract `main.ts` relies on — {@link startPlayout} returning a {@link PlayoutHandle} — and
 * only opens the configured unix socket paths (gRPC, enabled frame sinks) as plain listeners
 * that accept and close connections, so the lifecycle can be exercised end to end.
 *
 * @module
 */

import type { ChannelConfig, PlayoutConfig } from "./config/schema.ts";
import type { Logger } from "./observability/log.ts";

/** A running engine. */
export interface PlayoutHandle {
  /** Applies a new configuration to channels whose binding changed; returns their ids. */
  reload(config: PlayoutConfig): Promise<{ changedChannels: number[] }>;
  /** Stops channels and listeners and removes socket files. */
  stop(): Promise<void>;
  /** HTTP egress URLs of the channels, e.g. `http://host:8080/channel/1.ts`. */
  urls: string[];
}

/** A unix socket path that is taken by something other than a stale socket. */
export class SocketPathInUseError extends Error {
  override name = "SocketPathInUseError";
  constructor(readonly path: string, detail: string) {
    super(`cannot listen on ${path}: ${detail}`);
  }
}

/** Starts the (stand-in) engine for `config`. */
export async function startPlayout(config: PlayoutConfig, log: Logger): Promise<PlayoutHandle> {
  const listeners = new Map<string, Deno.Listener>();
  const open = async (path: string, mode: number | undefined, what: string) => {
    const listener = await listenUnix(path);
    if (mode !== undefined) await Deno.chmod(path, mode);
    listeners.set(path, listener);
    acceptAndClose(listener, log);
    log.info("listener_open", { what, path });
  };

  try {
    if (config.grpc.unix_socket !== undefined) {
      await open(config.grpc.unix_socket, config.grpc.unix_socket_mode, "grpc");
    }
    for (const channel of config.channels) {
      const sink = channel.frame_sink;
      if (sink.enabled && sink.unix !== undefined) {
        await open(sink.unix, undefined, `frame_sink channel ${channel.id}`);
      }
    }
  } catch (e) {
    await closeAll(listeners);
    throw e;
  }

  let current = config;
  for (const channel of config.channels) {
    log.info("channel_configured", { channel: channel.id, name: channel.name });
  }

  return {
    urls: egressUrls(config),
    reload(next: PlayoutConfig) {
      const changedChannels = changedChannelIds(current.channels, next.channels);
      current = next;
      return Promise.resolve({ changedChannels });
    },
    async stop() {
      await closeAll(listeners);
      log.info("playout_stopped", {});
    },
  };
}

/** Ids of channels added, removed or whose binding differs. */
export function changedChannelIds(before: ChannelConfig[], after: ChannelConfig[]): number[] {
  const old = new Map(before.map((c) => [c.id, JSON.stringify(c)]));
  const neu = new Map(after.map((c) => [c.id, JSON.stringify(c)]));
  const ids = new Set([...old.keys(), ...neu.keys()]);
  return [...ids].filter((id) => old.get(id) !== neu.get(id)).sort((a, b) => a - b);
}

function egressUrls(config: PlayoutConfig): string[] {
  const host = config.http.bind === "0.0.0.0" || config.http.bind === "::"
    ? Deno.hostname()
    : config.http.bind;
  return config.channels
    .filter((c) => c.http_egress)
    .map((c) => `http://${host}:${config.http.port}/channel/${c.id}.ts`);
}

async function listenUnix(path: string): Promise<Deno.Listener> {
  try {
    const info = await Deno.lstat(path);
    if (!info.isSocket) {
      throw new SocketPathInUseError(path, "a file that is not a socket is there");
    }
    await Deno.remove(path); // A stale socket from an earlier run.
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return Deno.listen({ transport: "unix", path });
}

function acceptAndClose(listener: Deno.Listener, log: Logger): void {
  (async () => {
    for await (const conn of listener) conn.close();
  })().catch((e) => {
    if (!(e instanceof Deno.errors.BadResource)) log.warn("listener_failed", { error: e });
  });
}

async function closeAll(listeners: Map<string, Deno.Listener>): Promise<void> {
  for (const [path, listener] of listeners) {
    listener.close();
    await Deno.remove(path).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
  listeners.clear();
}
