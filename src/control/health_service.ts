/**
 * The standard gRPC health service (`grpc.health.v1.Health`, Check and Watch).
 *
 * The engine is SERVING when every channel that is meant to be on air (see
 * `ChannelInfo.meantOnAir`, the same rule as `/healthz`) is `ready`, and NOT_SERVING while
 * any of them is `stopped`, `buffering` or in `error`. With no such channel it is SERVING: it
 * answers control calls. The overall status is served under the empty service
 * name and under `retrovue.playout.PlayoutControl`; other names are unknown (Check: NOT_FOUND,
 * Watch: SERVICE_UNKNOWN).
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { ControlSurface } from "../engine/control_surface.ts";
import type { Logger } from "../log/log.ts";
import { PLAYOUT_SERVICE_NAME } from "./playout_proto.ts";

/** `grpc.health.v1.HealthCheckResponse.ServingStatus` value names. */
export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

/** How often Watch re-reads channel states, ms. */
export const WATCH_POLL_MS = 500;

/** Service names the health service knows. */
export const HEALTH_SERVICE_NAMES: readonly string[] = Object.freeze(["", PLAYOUT_SERVICE_NAME]);

type Wire = Record<string, unknown>;

/** Serving status derived from the channels' states. */
export function servingStatus(surface: ControlSurface): ServingStatus {
  const meant = surface.list().filter((c) => c.meantOnAir);
  // A degraded channel is on air (repeating pictures it cannot make in time): serving.
  return meant.every((c) => c.state === "ready" || c.state === "degraded")
    ? "SERVING"
    : "NOT_SERVING";
}

/** The Health implementation. */
export class HealthService {
  #surface: ControlSurface;
  #log: Logger;
  #watchers = new Set<Watcher>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(opts: { surface: ControlSurface; log: Logger }) {
    this.#surface = opts.surface;
    this.#log = opts.log;
  }

  /** Handlers for `Server.addService`. */
  implementation(): grpc.UntypedServiceImplementation {
    return {
      Check: (
        call: grpc.ServerUnaryCall<Wire, Wire>,
        callback: grpc.sendUnaryData<Wire>,
      ) => {
        const service = String(call.request.service ?? "");
        if (!HEALTH_SERVICE_NAMES.includes(service)) {
          callback({ code: grpc.status.NOT_FOUND, details: `unknown service "${service}"` });
          return;
        }
        callback(null, { status: servingStatus(this.#surface) });
      },
      Watch: (call: grpc.ServerWritableStream<Wire, Wire>) => this.#watch(call),
    };
  }

  /** Ends every Watch stream and stops polling (server shutdown). */
  close(): void {
    for (const w of [...this.#watchers]) w.finish();
  }

  #watch(call: grpc.ServerWritableStream<Wire, Wire>): void {
    const service = String(call.request.service ?? "");
    const known = HEALTH_SERVICE_NAMES.includes(service);
    const watcher: Watcher = {
      last: undefined,
      send: () => {
        const status: ServingStatus = known ? servingStatus(this.#surface) : "SERVICE_UNKNOWN";
        if (status === watcher.last) return;
        watcher.last = status;
        call.write({ status });
      },
      finish: () => {
        if (!this.#watchers.delete(watcher)) return;
        if (this.#watchers.size === 0 && this.#timer !== undefined) {
          clearInterval(this.#timer);
          this.#timer = undefined;
        }
        if (!call.cancelled && !call.writableEnded) call.end();
      },
    };
    this.#watchers.add(watcher);
    call.on("cancelled", watcher.finish);
    watcher.send();
    if (this.#timer === undefined) {
      const timer = setInterval(() => this.#poll(), WATCH_POLL_MS);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  #poll(): void {
    for (const w of this.#watchers) {
      try {
        w.send();
      } catch (err) {
        this.#log.error("grpc_health_watch_failed", { error: err });
        w.finish();
      }
    }
  }
}

interface Watcher {
  last: ServingStatus | undefined;
  send(): void;
  finish(): void;
}
