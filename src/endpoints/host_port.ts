/**
 * `host:port` endpoints as users and Core write them: `127.0.0.1:50051`, `localhost:9000`,
 * `[::1]:9308`.
 *
 * @module
 */

/** A parsed `host:port`; `host` is without brackets. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Splits `"host:port"` / `"[v6]:port"`; undefined when malformed or the port is outside
 * `minPort..65535` (`minPort` 1 by default; 0 where "any free port" is meant).
 */
export function parseHostPort(text: string, opts: { minPort?: 0 | 1 } = {}): HostPort | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:\[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < (opts.minPort ?? 1) || port > 65535) return undefined;
  return { host: m[1] ?? m[2], port };
}

/** `host:port`, with brackets around an IPv6 host. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Whether `text` is a gRPC target the engine can dial: `host:port` / `[v6]:port` (port
 * 1..65535, no `/` in the host) or `unix:/path`.
 */
export function isDialTarget(text: string): boolean {
  if (text.startsWith("unix:/")) return text.length > "unix:/".length;
  return !text.includes("/") && parseHostPort(text) !== undefined;
}
