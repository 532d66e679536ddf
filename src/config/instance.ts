/**
 * The engine instance a configuration describes, named by its gRPC endpoints: several engines
 * on one host (RetroVue Core spawns one per channel session) keep their state apart by it.
 *
 * @module
 */

import { DEFAULT_GRPC_SOCKET, type PlayoutConfig } from "./schema.ts";

/** Name of the instance that listens on the default gRPC socket only. */
export const DEFAULT_INSTANCE = "default";

/**
 * The instance name of `config`, from its gRPC listeners as configured (before runtime-path
 * fallbacks): {@link DEFAULT_INSTANCE} for the default unix socket alone, else the endpoints
 * made file-name safe and joined, e.g. `tcp-127.0.0.1-50051` or `unix-run-a-playout.sock`.
 */
export function instanceName(config: PlayoutConfig): string {
  const parts: string[] = [];
  const unix = config.grpc.unix_socket;
  if (unix !== undefined && !(unix === DEFAULT_GRPC_SOCKET && config.grpc.tcp.length === 0)) {
    parts.push(`unix-${safe(unix)}`);
  }
  for (const tcp of [...config.grpc.tcp].sort()) parts.push(`tcp-${safe(tcp)}`);
  return parts.length === 0 ? DEFAULT_INSTANCE : parts.join("+");
}

function safe(text: string): string {
  return text.replace(/[^A-Za-z0-9._]+/g, "-").replace(/^-+|-+$/g, "");
}
