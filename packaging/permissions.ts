/**
 * The Deno permissions the engine runs with, in one place: `deno compile` bakes them into the
 * executable and the runtime+bundle launcher passes the same flags to `deno run`.
 *
 * Why each one, and why not narrower:
 * - `--allow-ffi`: FFmpeg through `Deno.dlopen` (the libraries are found by soname, so a path
 *   list cannot name them portably; FFI is unrestricted native code anyway).
 * - `--allow-read`: the config file, media files anywhere the operator keeps them, Unix sockets
 *   Core binds, /proc for process metrics. systemd's `ProtectSystem=strict`/`ProtectHome`
 *   narrow what is visible to the service.
 * - `--allow-write`: the state and runtime directories, the gRPC Unix socket, and connecting to
 *   the Unix socket Core binds for `AttachStream` (Deno checks write access on a socket path
 *   that Core chooses). systemd makes everything but the state/runtime directories read-only.
 * - `--allow-net`: HTTP egress and gRPC on configured hosts/ports, `AttachStream` over TCP.
 * - `--allow-env`: the engine's own variables and those npm modules read (grpc-js `GRPC_*`,
 *   proxies; systemd's `NOTIFY_SOCKET`, `STATE_DIRECTORY`, `RUNTIME_DIRECTORY`).
 * - `--allow-sys`: only the OS facts process metrics ask for.
 * - No `--allow-run`: the product never spawns a process. No `--allow-import`: all code is
 *   embedded (compiled) or bundled.
 *
 * @module
 */

/** `--allow-sys` kinds that process/OS metrics use. */
export const SYS_PERMISSIONS: readonly string[] = Object.freeze([
  "hostname",
  "loadavg",
  "osRelease",
  "osUptime",
  "systemMemoryInfo",
  "cpus",
]);

/** Permission flags for `deno compile` and `deno run`, in a stable order. */
export const RUNTIME_PERMISSION_FLAGS: readonly string[] = Object.freeze([
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  `--allow-sys=${SYS_PERMISSIONS.join(",")}`,
]);
