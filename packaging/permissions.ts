/**
 * The Deno permissions the engine runs with, in one place: `deno compile` bakes them into the
 * executable and the runtime+bundle launcher passes the same flags to `deno run`.
 *
 * Why each one, and why not narrower:
 * - `--allow-ffi`: FFmpeg through `Deno.dlopen` (the libraries are found by soname, so a path
 *   list cannot name them portably; FFI is unrestricted native code anyway).
 * - `--allow-read`: the config file, media files anywhere the operator keeps them, Unix sockets
 *   Core binds. systemd's `ProtectSystem=strict`/`ProtectHome` narrow what the service sees.
 * - `--allow-write`: the state and runtime directories, the gRPC Unix socket, and connecting to
 *   the Unix socket Core binds for `AttachStream` (Deno checks write access on a socket path
 *   that Core chooses). systemd makes everything but the state/runtime directories read-only.
 * - `--allow-net`: HTTP egress and gRPC on configured hosts/ports, `AttachStream` over TCP.
 * - `--allow-env`: the engine's own variables (XDG_*, HOME, RETROVUE_*) and those npm modules
 *   read at load time (grpc-js `GRPC_*`, proxy variables). A list cannot be narrower: reading
 *   an unlisted variable throws in Deno, even through `process.env`.
 * - `--allow-sys=hostname,uid`: see {@linkcode SYS_PERMISSIONS}.
 * - No `--allow-run`: the product never spawns a process. No `--allow-import`: all code is
 *   embedded (compiled) or bundled.
 *
 * @module
 */

/**
 * `--allow-sys` kinds: `hostname` (egress URLs in logs), `uid` (runtime-path fallbacks).
 * prom-client's process metrics need none (measured: the same metric names as with
 * `--allow-all` except `process_max_fds`, which reads /proc/self/limits; Deno grants any /proc
 * path only with `--allow-all`).
 */
export const SYS_PERMISSIONS: readonly string[] = Object.freeze(["hostname", "uid"]);

/** Permission flags for `deno compile` and `deno run`, in a stable order. */
export const RUNTIME_PERMISSION_FLAGS: readonly string[] = Object.freeze([
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  `--allow-sys=${SYS_PERMISSIONS.join(",")}`,
]);
