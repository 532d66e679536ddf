/**
 * Unix socket paths the engine listens on: the length limit, the liveness probe, the one way to
 * bind (atomically, never with looser permissions than asked), and removal on shutdown. The
 * gRPC server and the frame sinks both bind through {@link bindUnixSocket}.
 *
 * @module
 */

/** Longest Unix socket path in bytes (`sun_path` holds 108 bytes including the NUL). */
export const UNIX_SOCKET_PATH_MAX_BYTES = 107;

/** Whether `path` fits in `sun_path`. */
export function unixSocketPathFits(path: string): boolean {
  return new TextEncoder().encode(path).length <= UNIX_SOCKET_PATH_MAX_BYTES;
}

/** The socket path is longer than {@link UNIX_SOCKET_PATH_MAX_BYTES}. */
export class SocketPathTooLongError extends Error {
  override name = "SocketPathTooLongError";
  constructor(readonly path: string) {
    super(`${path}: path longer than ${UNIX_SOCKET_PATH_MAX_BYTES} bytes`);
  }
}

/** Another process is serving on the socket path. */
export class SocketInUseError extends Error {
  override name = "SocketInUseError";
  constructor(readonly path: string) {
    super(`${path} is in use: another process accepts connections on it`);
  }
}

/** The socket path exists and is not a socket (a file or directory we must not remove). */
export class SocketPathOccupiedError extends Error {
  override name = "SocketPathOccupiedError";
  constructor(readonly path: string) {
    super(`${path} exists and is not a socket`);
  }
}

/** Whether something accepts connections on the socket at `path`. */
export async function isSocketLive(path: string): Promise<boolean> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (err) {
    if (err instanceof Deno.errors.ConnectionRefused || err instanceof Deno.errors.NotFound) {
      return false;
    }
    throw err;
  }
  conn.close();
  return true;
}

/** What was at the path before {@link bindUnixSocket} bound it. */
export type SocketPathState = "absent" | "stale";

/**
 * Checks that `path` may be bound: nothing there, or a stale socket (nobody accepts on it),
 * which the bind then replaces. Removes nothing.
 *
 * @throws {SocketPathTooLongError} {@link SocketInUseError} {@link SocketPathOccupiedError}
 */
export async function checkUnixSocketPath(path: string): Promise<SocketPathState> {
  if (!unixSocketPathFits(path)) throw new SocketPathTooLongError(path);
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "absent";
    throw err;
  }
  if (!info.isSocket) throw new SocketPathOccupiedError(path);
  if (await isSocketLive(path)) throw new SocketInUseError(path);
  return "stale";
}

/** A socket bound by {@link bindUnixSocket}. */
export interface BoundUnixSocket<T> {
  /** What `bind` returned (the listener or server). */
  bound: T;
  /** What was at the path before: nothing, or a stale socket now replaced. */
  previous: SocketPathState;
  /** Inode of the socket file, for {@link removeSocketFile}'s `ino`. */
  ino: number | null;
}

/**
 * Binds a Unix socket at `path` with permission bits `mode`, atomically: `bind` is called with
 * a path inside a fresh private (0700) directory next to `path`; the socket gets `mode` there
 * and is then renamed over `path`. No moment with looser permissions, and a stale socket is
 * replaced in one step. The parent directory is created (0750) when missing. When the private
 * path would not fit in `sun_path`, the socket is bound at `path` itself and chmod-ed at once.
 *
 * @param bind binds at the given path and returns what it made; `unbind` undoes it on failure
 * @throws {SocketPathTooLongError} {@link SocketInUseError} {@link SocketPathOccupiedError},
 *   or what `bind` throws
 */
export async function bindUnixSocket<T>(
  path: string,
  mode: number,
  bind: (bindPath: string) => T | Promise<T>,
  unbind: (bound: T) => void | Promise<void>,
): Promise<BoundUnixSocket<T>> {
  const previous = await checkUnixSocketPath(path);
  const dir = dirname(path);
  await Deno.mkdir(dir, { recursive: true, mode: 0o750 });
  const privateDir = await Deno.makeTempDir({ dir, prefix: ".rv" });
  let bound: { value: T } | undefined;
  try {
    const tempPath = `${privateDir}/s`;
    const bindPath = unixSocketPathFits(tempPath) ? tempPath : path;
    bound = { value: await bind(bindPath) };
    await Deno.chmod(bindPath, mode);
    if (bindPath !== path) await Deno.rename(bindPath, path);
    const ino = (await Deno.lstat(path)).ino;
    return { bound: bound.value, previous, ino };
  } catch (err) {
    if (bound !== undefined) await unbind(bound.value);
    throw err;
  } finally {
    await Deno.remove(privateDir, { recursive: true });
  }
}

/**
 * Removes the socket file at `path` if it is there (and, with `ino`, still the one bound);
 * anything that is not a socket is left alone. Returns whether a file was removed.
 */
export async function removeSocketFile(path: string, opts: { ino?: number | null } = {}) {
  try {
    const info = await Deno.lstat(path);
    if (!info.isSocket || (opts.ino != null && info.ino !== opts.ino)) return false;
    await Deno.remove(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Synchronous {@link removeSocketFile}, for a deadline that exits right after. */
export function removeSocketFileSync(path: string): boolean {
  try {
    if (!Deno.lstatSync(path).isSocket) return false;
    Deno.removeSync(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : path.slice(0, i);
}
