/**
 * Preparing a Unix socket path for the gRPC server: the parent directory is created, a stale
 * socket file left by a crashed process is replaced, a live one (something accepts
 * connections on it) is refused, and anything that is not a socket is never touched.
 *
 * @module
 */

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

/** What {@link prepareUnixSocketPath} found at the path. */
export type SocketPathState = "absent" | "stale_removed";

/**
 * Makes `path` ready to bind: creates its parent directory and removes a stale socket.
 *
 * @throws {SocketInUseError} when a live server answers on `path`
 * @throws {SocketPathOccupiedError} when `path` is not a socket
 */
export async function prepareUnixSocketPath(path: string): Promise<SocketPathState> {
  const parent = path.slice(0, path.lastIndexOf("/"));
  if (parent !== "") await Deno.mkdir(parent, { recursive: true });
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "absent";
    throw err;
  }
  if (!info.isSocket) throw new SocketPathOccupiedError(path);
  if (await isLive(path)) throw new SocketInUseError(path);
  await Deno.remove(path);
  return "stale_removed";
}

/** Whether something accepts connections on the socket at `path`. */
async function isLive(path: string): Promise<boolean> {
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

/** Removes the socket file at `path` if it is still there (server shutdown). */
export async function removeSocketFile(path: string): Promise<void> {
  try {
    const info = await Deno.lstat(path);
    if (!info.isSocket) return;
    await Deno.remove(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
}
