/**
 * Runtime paths with a fallback: the default gRPC socket, frame-sink sockets and state
 * directory live under /var/run, /run and /var/lib, which an unprivileged user cannot write.
 * When a setting is left at its default and that place is not writable, it moves under
 * `$XDG_RUNTIME_DIR` (sockets) / `$XDG_STATE_HOME` (state), else under `/tmp`. Paths a
 * configuration spells out differently are used as they are.
 *
 * On Windows the Linux-only defaults are first replaced by their Windows stand-ins
 * (`windows_defaults.ts`: gRPC on TCP, frame sinks on TCP, state under `%ProgramData%`); a
 * state directory there that is not writable falls back to `%LOCALAPPDATA%`.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { ConfigError } from "./problems.ts";
import { applyWindowsDefaults, type WindowsDefaults, windowsStateDir } from "./windows_defaults.ts";
import {
  DEFAULT_GRPC_SOCKET,
  DEFAULT_METRICS_TARGETS_DIR,
  DEFAULT_STATE_DIR,
  defaultFrameSinkPath,
  type PlayoutConfig,
} from "./schema.ts";

/** Where one default path ended up. */
export interface PathChoice {
  /** The setting, as a TOML path (e.g. `grpc.unix_socket`). */
  setting: string;
  /** The path in use. */
  path: string;
  /** The default that was not writable, when a fallback was taken. */
  fallbackFrom?: string;
  /** Why the default was not usable. */
  reason?: string;
}

/** Hooks for tests; the defaults probe the real file system and environment. */
export interface RuntimePathOptions {
  /** Reads an environment variable. */
  env?: (name: string) => string | undefined;
  /** Undefined when `dir` exists (or was created) and takes a new file, else why not. */
  probeDir?: (dir: string) => Promise<string | undefined>;
  /** Numeric user id used in the /tmp fallback. */
  uid?: number;
  /** The OS whose defaults apply (default `Deno.build.os`). */
  os?: typeof Deno.build.os;
  /** Name of the configuration in a {@link ConfigError} (default "configuration"). */
  source?: string;
}

/** A configuration whose default runtime paths are resolved, and what was chosen. */
export interface ResolvedRuntimePaths {
  config: PlayoutConfig;
  choices: PathChoice[];
  /** Windows: channels whose frame sink serves TCP instead of the named pipe Renderers expect. */
  pipeFallbacks: WindowsDefaults["pipeFallbacks"];
}

/**
 * Creates `dir` if needed and probes that a file can be created in it. Returns undefined when
 * it can, else the reason (permission, read-only file system, a file in the way, ...).
 */
export async function probeWritableDir(dir: string): Promise<string | undefined> {
  try {
    await Deno.mkdir(dir, { recursive: true });
    const probe = await Deno.makeTempFile({ dir, prefix: ".write-probe-" });
    await Deno.remove(probe);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** Replaces default runtime paths that are not writable by their fallbacks. */
export async function resolveRuntimePaths(
  config: PlayoutConfig,
  options: RuntimePathOptions = {},
): Promise<ResolvedRuntimePaths> {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const probe = options.probeDir ?? probeWritableDir;
  if ((options.os ?? Deno.build.os) === "windows") {
    return await resolveWindowsPaths(config, env, probe, options.source ?? "configuration");
  }
  const uid = options.uid ?? currentUid();
  const tmpBase = `/tmp/retrovue-${uid}`;
  const runtimeBase = env("XDG_RUNTIME_DIR") ? join(env("XDG_RUNTIME_DIR")!, "retrovue") : tmpBase;
  const stateBase = env("XDG_STATE_HOME")
    ? join(env("XDG_STATE_HOME")!, "retrovue-playout")
    : env("HOME")
    ? join(env("HOME")!, ".local", "state", "retrovue-playout")
    : join(tmpBase, "state");

  const choices: PathChoice[] = [];
  const probes = new Map<string, Promise<string | undefined>>();
  const whyNotWritable = (dir: string) => {
    if (!probes.has(dir)) probes.set(dir, probe(dir));
    return probes.get(dir)!;
  };
  /** A socket path: keep it when its directory is writable, else move it under the fallback. */
  const socket = async (setting: string, path: string): Promise<string> => {
    const reason = await whyNotWritable(dirname(path));
    if (reason === undefined) {
      choices.push({ setting, path });
      return path;
    }
    const moved = join(runtimeBase, basename(path));
    await ensureDir(runtimeBase);
    choices.push({ setting, path: moved, fallbackFrom: path, reason });
    return moved;
  };

  const grpcSocket = config.grpc.unix_socket === DEFAULT_GRPC_SOCKET
    ? await socket("grpc.unix_socket", DEFAULT_GRPC_SOCKET)
    : config.grpc.unix_socket;

  let stateDir = config.state_dir;
  if (stateDir === DEFAULT_STATE_DIR) {
    const reason = await whyNotWritable(DEFAULT_STATE_DIR);
    if (reason === undefined) {
      choices.push({ setting: "state_dir", path: DEFAULT_STATE_DIR });
    } else {
      stateDir = stateBase;
      await ensureDir(stateDir);
      choices.push({
        setting: "state_dir",
        path: stateDir,
        fallbackFrom: DEFAULT_STATE_DIR,
        reason,
      });
    }
  }

  const channels = [];
  for (const [i, channel] of config.channels.entries()) {
    const sink = channel.frame_sink;
    if (sink.enabled && sink.unix !== undefined && sink.unix === defaultFrameSinkPath(channel.id)) {
      const unix = await socket(`channels[${i}].frame_sink.unix`, sink.unix);
      channels.push({ ...channel, frame_sink: { ...sink, unix } });
    } else {
      channels.push(channel);
    }
  }

  return {
    config: {
      ...config,
      grpc: { ...config.grpc, unix_socket: grpcSocket },
      state_dir: stateDir,
      channels,
    },
    choices,
    pipeFallbacks: [],
  };
}

async function resolveWindowsPaths(
  config: PlayoutConfig,
  env: (name: string) => string | undefined,
  probe: (dir: string) => Promise<string | undefined>,
  source: string,
): Promise<ResolvedRuntimePaths> {
  const adapted = applyWindowsDefaults(config, env);
  if (adapted.problems.length > 0) throw new ConfigError(source, adapted.problems);
  // The Windows defaults are the defaults there, not fallbacks.
  const choices: PathChoice[] = adapted.choices.map((c) => ({ setting: c.setting, path: c.value }));
  let stateDir = adapted.config.state_dir;
  if (stateDir === windowsStateDir(env)) {
    const reason = await probe(stateDir);
    const local = env("LOCALAPPDATA");
    if (reason !== undefined && local) {
      const fallback = `${local.replace(/[\\/]+$/, "")}\\RetroVue\\playout\\state`;
      const why = await probe(fallback);
      if (why !== undefined) throw new ConfigError(source, [{ path: "state_dir", message: why }]);
      choices.push({ setting: "state_dir", path: fallback, fallbackFrom: stateDir, reason });
      stateDir = fallback;
    }
  }
  return {
    config: { ...adapted.config, state_dir: stateDir },
    choices,
    pipeFallbacks: adapted.pipeFallbacks,
  };
}

/** The process's user id (the packaged engine grants `--allow-sys=uid` for it). */
function currentUid(): number {
  const uid = Deno.uid();
  if (uid === null) throw new Deno.errors.NotSupported("this platform has no user ids");
  return uid;
}

async function ensureDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
}

/**
 * The directory for Prometheus file_sd target files: `explicit` when given (created if
 * needed), else {@link DEFAULT_METRICS_TARGETS_DIR} when it can be written, else
 * `$XDG_RUNTIME_DIR/retrovue-playout/metrics-targets`, else `/tmp/retrovue-<uid>/metrics-targets`.
 * Directories it creates are mode 0755 so that a Prometheus running as another user can read
 * them.
 */
export async function resolveMetricsTargetsDir(
  explicit: string | undefined,
  options: RuntimePathOptions = {},
): Promise<PathChoice> {
  const setting = "--metrics-targets";
  const probe = options.probeDir ?? (async (dir: string) => {
    try {
      await mkdirReadable(dir);
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
    return await probeWritableDir(dir);
  });
  if (explicit !== undefined) return { setting, path: explicit };
  const reason = await probe(DEFAULT_METRICS_TARGETS_DIR);
  if (reason === undefined) return { setting, path: DEFAULT_METRICS_TARGETS_DIR };
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const uid = options.uid ?? currentUid();
  const path = env("XDG_RUNTIME_DIR")
    ? join(env("XDG_RUNTIME_DIR")!, "retrovue-playout", "metrics-targets")
    : join(`/tmp/retrovue-${uid}`, "metrics-targets");
  return { setting, path, fallbackFrom: DEFAULT_METRICS_TARGETS_DIR, reason };
}

/**
 * Creates `dir` and any missing parents with mode 0755 whatever the umask (a Prometheus running
 * as another user reads what is written there). Existing directories are left as they are.
 */
export async function mkdirReadable(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = dir;; d = dirname(d)) {
    try {
      await Deno.stat(d);
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      missing.unshift(d);
      if (dirname(d) === d) break;
    }
  }
  for (const d of missing) {
    try {
      await Deno.mkdir(d);
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      continue;
    }
    await Deno.chmod(d, 0o755);
  }
}
