/**
 * `retrovue_playout`: command line, configuration and process lifecycle. Starts the engine
 * (`src/playout.ts`) and then only reacts to signals:
 *
 * - SIGTERM / SIGINT: stop the engine, remove socket files, exit 0 — or, when something
 *   hangs past the deadline, exit 1 naming the stage that hung.
 * - SIGHUP: re-read the configuration file; a valid one is applied (channels whose binding
 *   changed are restarted by the engine), an invalid one is logged and changes nothing.
 * - With `--port` (how RetroVue Core spawns it), the death of the parent process stops the
 *   engine like SIGTERM does (`src/parent_watch.ts`).
 *
 * `--port` without `--config` runs the Core-managed mode (`docs/core-managed.md`): no channels,
 * HTTP egress or frame sinks of its own, plans not stored, metrics at a free port announced in
 * a Prometheus file_sd target file.
 * - Windows (`src/host_signals.ts`): Ctrl+C (SIGINT) and Ctrl+Break (SIGBREAK) stop it; there
 *   is no reload signal. The parent watch polls the parent process there.
 *
 * Exit codes: 0 ok, 1 bad configuration or failure, 2 bad command line.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { FfmpegLoadError } from "../ffi/errors.ts";
import type { FfmpegVersions } from "../ffi/mod.ts";
import {
  applyOverrides,
  type CheckedConfig,
  type CliCommand,
  type CliOverrides,
  CliUsageError,
  ConfigError,
  type ConfigProblem,
  CORE_MANAGED_CONFIG,
  EMBEDDED_DEFAULT_CONFIG,
  formatProblem,
  instanceName,
  isCoreManaged,
  loadConfigFileChecked,
  overrideConflicts,
  parseCommandLine,
  PLAYOUT_API_VERSION,
  type PlayoutConfig,
  resolveMetricsTargetsDir,
  resolveRuntimePaths,
  USAGE,
} from "./config/mod.ts";
import { applyWindowsDefaults } from "./config/windows_defaults.ts";
import { hostSignals } from "./host_signals.ts";
import { type LogFormat, Logger } from "./log/log.ts";
import { removeSocketFile, removeSocketFileSync } from "./endpoints/unix_socket.ts";
import type { PlayoutHandle } from "./playout.ts";
import { type ParentWatch, watchParent } from "./parent_watch.ts";
import { raiseControlThread } from "./control_thread_priority.ts";
import { limitHeapRetention } from "./heap_policy.ts";

/** Version of this engine, from deno.json. */
export const ENGINE_VERSION: string = denoJson.version;

/** How long a graceful stop may take before the process exits anyway (non-zero). */
export const SHUTDOWN_DEADLINE_MS = 4500;

const CONFIG_SOURCE_EMBEDDED = "embedded default";
const CONFIG_SOURCE_CORE = "core-managed (no --config)";
const CONFIG_SOURCE_FLAGS = "command line";

/** Runs the command line `args`; resolves with the process exit code. */
export async function main(args: string[]): Promise<number> {
  let command: CliCommand;
  try {
    command = parseCommandLine(args);
  } catch (e) {
    if (!(e instanceof CliUsageError)) throw e;
    printError(`${e.message}\n\n${USAGE}`);
    return 2;
  }

  switch (command.kind) {
    case "help":
      console.log(USAGE);
      return 0;
    case "version":
      return await printVersion();
    case "frames": {
      const { runFramesCommand } = await import("./cli/frames.ts");
      return await runFramesCommand(command.args);
    }
    case "state": {
      const { runStateCommand } = await import("./cli/state.ts");
      return await runStateCommand(command.args);
    }
    case "config": {
      const { runConfigCommand } = await import("./cli/config.ts");
      return await runConfigCommand(command.args);
    }
    case "check-config":
      return await checkConfig(command.configFile, command.overrides);
    case "run":
      return await run(command.configFile, command.overrides);
  }
}

/** The FFmpeg libraries in the order `--version` lists them. */
const FFMPEG_LIBRARIES = [
  "avutil",
  "avcodec",
  "avformat",
  "swscale",
  "swresample",
  "avfilter",
] as const;

async function printVersion(): Promise<number> {
  console.log(`retrovue_playout ${ENGINE_VERSION}`);
  console.log(`playout API ${PLAYOUT_API_VERSION}`);
  const { ffmpegRelease, ffmpegVersions } = await import("../ffi/mod.ts");
  let versions: FfmpegVersions;
  let release: string;
  try {
    versions = ffmpegVersions();
    release = ffmpegRelease();
  } catch (e) {
    if (!(e instanceof FfmpegLoadError)) throw e;
    printError(`FFmpeg: ${e.message}`);
    return 1;
  }
  console.log(`FFmpeg ${release}`);
  for (const lib of FFMPEG_LIBRARIES) console.log(`lib${lib} ${versions[lib]}`);
  return 0;
}

/**
 * Loads the file (or, without one, the Core-managed base with `--port` and the embedded
 * default otherwise) and applies command-line overrides. Media missing now comes back as
 * warnings, not problems.
 */
async function loadConfig(
  file: string | undefined,
  overrides: CliOverrides,
): Promise<CheckedConfig> {
  const coreManaged = isCoreManaged({ configFile: file, overrides });
  const checked: CheckedConfig = file !== undefined
    ? await loadConfigFileChecked(file)
    : coreManaged
    ? { config: CORE_MANAGED_CONFIG, warnings: [] }
    : { config: EMBEDDED_DEFAULT_CONFIG, warnings: [] };
  const config = applyOverrides(checked.config, overrides);
  // Flags can bring in what the file alone does not: two listeners on one port.
  const conflicts = overrideConflicts(config, overrides, !coreManaged);
  if (conflicts.length > 0) throw new ConfigError(CONFIG_SOURCE_FLAGS, conflicts);
  return { config, warnings: checked.warnings };
}

function configSource(file: string | undefined, overrides: CliOverrides): string {
  if (file !== undefined) return file;
  return isCoreManaged({ configFile: file, overrides })
    ? CONFIG_SOURCE_CORE
    : CONFIG_SOURCE_EMBEDDED;
}

/**
 * `--check-config`: exit 1 on every problem startup would refuse (shape, ids, ports, socket
 * paths); media missing now is printed as a warning and does not fail the check, because the
 * engine starts without it too.
 */
async function checkConfig(file: string | undefined, overrides: CliOverrides): Promise<number> {
  const source = configSource(file, overrides);
  try {
    const { config, warnings } = await loadConfig(file, overrides);
    for (const w of warnings) printError(`${source}: warning: ${formatProblem(w)}`);
    if (Deno.build.os === "windows") {
      const { problems } = applyWindowsDefaults(config, (name) => Deno.env.get(name));
      if (problems.length > 0) throw new ConfigError(source, problems);
    }
    const n = config.channels.length;
    const warned = warnings.length === 0
      ? ""
      : `, ${warnings.length} warning${warnings.length === 1 ? "" : "s"}`;
    console.log(`${source}: ok (${n} channel${n === 1 ? "" : "s"}${warned})`);
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    printError(e.message);
    return 1;
  }
}

function logFormatOf(config: PlayoutConfig): LogFormat {
  const format = config.log.format;
  if (format !== "auto") return format;
  return Deno.stdout.isTerminal() ? "human" : "json";
}

async function run(file: string | undefined, overrides: CliOverrides): Promise<number> {
  const source = configSource(file, overrides);
  const coreManaged = isCoreManaged({ configFile: file, overrides });
  let loaded: PlayoutConfig;
  let warnings: ConfigProblem[];
  try {
    ({ config: loaded, warnings } = await loadConfig(file, overrides));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    printError(e.message);
    return 1;
  }
  const log = new Logger({ level: loaded.log.level, format: logFormatOf(loaded) });
  for (const w of warnings) logMediaWarning(log, source, w);
  let resolved;
  try {
    resolved = await resolveRuntimePaths(loaded, { source });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    printError(e.message);
    return 1;
  }
  const { config, choices, pipeFallbacks } = resolved;
  if (pipeFallbacks.length > 0) {
    log.warn("frame_sink_named_pipe_unavailable", {
      reason: "Deno cannot serve Windows named pipes; frame sinks listen on TCP instead",
      channels: pipeFallbacks,
    });
  }
  let metricsTargetsDir = overrides.metricsTargetsDir;
  if (coreManaged && config.metrics.enabled) {
    const choice = await resolveMetricsTargetsDir(metricsTargetsDir);
    choices.push(choice);
    metricsTargetsDir = choice.path;
  }
  for (const choice of choices) {
    if (choice.fallbackFrom === undefined) {
      log.info("runtime_path", { setting: choice.setting, path: choice.path });
    } else {
      log.warn("runtime_path_fallback", {
        setting: choice.setting,
        path: choice.path,
        default: choice.fallbackFrom,
        reason: choice.reason,
      });
    }
  }
  log.info("starting", {
    version: ENGINE_VERSION,
    api_version: PLAYOUT_API_VERSION,
    config: source,
    mode: coreManaged ? "core-managed" : "standalone",
    channels: config.channels.map((c) => c.id),
    pid: Deno.pid,
  });

  // FFmpeg is loaded before anything listens: a missing or unsupported FFmpeg (a release line
  // without a verified layout table) is refused here with one line.
  const { ffmpegRelease, ffmpegVersions } = await import("../ffi/mod.ts");
  try {
    log.info("ffmpeg_loaded", { release: ffmpegRelease(), versions: ffmpegVersions() });
  } catch (e) {
    if (!(e instanceof FfmpegLoadError)) throw e;
    log.error("ffmpeg_refused", { reason: e.message });
    return 1;
  }

  // Before any channel Worker starts (they must not inherit it; see the module).
  raiseControlThread(log);
  // Before any channel allocates.
  limitHeapRetention(log);

  // Signals are handled from here on: a stop during startup waits for the start to finish.
  const lifecycle = new Lifecycle(config, { file, overrides }, log);
  if (overrides.grpcTcp !== undefined) {
    lifecycle.watch(watchParent(log, () => lifecycle.stopFor("parent_exited")));
  }
  let handle: PlayoutHandle;
  try {
    // Loaded here so that --version, --check-config and subcommands never load the engine.
    const { startPlayout } = await import("./playout.ts");
    handle = await startPlayout(config, log, {
      instance: instanceName(loaded),
      httpEgress: !coreManaged,
      persistPlans: !coreManaged,
      metricsTargetsDir,
    });
  } catch (e) {
    log.error("startup_failed", { error: e });
    lifecycle.dispose();
    return 1;
  }
  lifecycle.started(handle);
  for (const url of handle.urls) log.info("egress_url", { url });
  log.info("ready", {
    grpc_unix: config.grpc.unix_socket,
    grpc_tcp: config.grpc.tcp,
    urls: handle.urls,
  });
  return await lifecycle.exitCode;
}

/** Origin of the running configuration, for SIGHUP. */
interface ConfigOrigin {
  file: string | undefined;
  overrides: CliOverrides;
}

/** Signal handling of a running engine: the stop signals stop it, SIGHUP reloads. */
class Lifecycle {
  /** Resolves with the exit code once a stop signal was handled. */
  readonly exitCode: Promise<number>;
  #resolveExit!: (code: number) => void;
  #handle: Promise<PlayoutHandle>;
  #resolveHandle!: (handle: PlayoutHandle) => void;
  #config: PlayoutConfig;
  /** Every unix socket path of every configuration applied, for cleanup. */
  #socketPaths = new Set<string>();
  #origin: ConfigOrigin;
  #log: Logger;
  #reloads: Promise<void> = Promise.resolve();
  #stopping = false;
  #stage = "";
  #listeners: [Deno.Signal, () => void][] = [];
  #parentWatch: ParentWatch | undefined;

  constructor(config: PlayoutConfig, origin: ConfigOrigin, log: Logger) {
    this.#config = config;
    this.#origin = origin;
    this.#log = log;
    for (const path of socketPaths(config)) this.#socketPaths.add(path);
    this.exitCode = new Promise((resolve) => this.#resolveExit = resolve);
    this.#handle = new Promise((resolve) => this.#resolveHandle = resolve);
    const signals = hostSignals(Deno.build.os);
    for (const signal of signals.stop) this.#on(signal, () => this.#stop({ signal }));
    for (const signal of signals.reload) {
      this.#on(signal, () => {
        if (this.#stopping) return;
        this.#reloads = this.#reloads
          .then(() => this.#reload())
          .catch((e) => this.#log.error("config_reload_failed", { config: origin.file, error: e }));
      });
    }
  }

  /** The engine is running. */
  started(handle: PlayoutHandle): void {
    this.#resolveHandle(handle);
  }

  /** Removes the signal listeners (startup failed). */
  dispose(): void {
    for (const [sig, handler] of this.#listeners) Deno.removeSignalListener(sig, handler);
    this.#listeners = [];
    this.#parentWatch?.stop();
    this.#parentWatch = undefined;
  }

  /** Keeps the parent watch, to end it with the engine. */
  watch(parentWatch: ParentWatch | undefined): void {
    this.#parentWatch = parentWatch;
  }

  /** Stops the engine as SIGTERM does, for a reason other than a signal. */
  stopFor(reason: string): void {
    void this.#stop({ reason });
  }

  #on(signal: Deno.Signal, handler: () => void): void {
    Deno.addSignalListener(signal, handler);
    this.#listeners.push([signal, handler]);
  }

  async #reload(): Promise<void> {
    const log = this.#log;
    const file = this.#origin.file;
    if (file === undefined) {
      log.warn("config_reload_skipped", { reason: "running the embedded default (no --config)" });
      return;
    }
    log.info("config_reload_requested", { config: file });
    let next: PlayoutConfig;
    try {
      const checked = await loadConfig(file, this.#origin.overrides);
      for (const w of checked.warnings) logMediaWarning(log, file, w);
      next = (await resolveRuntimePaths(checked.config)).config;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      log.error("config_reload_rejected", {
        config: file,
        problems: e.problems.map(formatProblem),
      });
      return;
    }
    const handle = await this.#handle;
    const { changedChannels } = await handle.reload(next);
    for (const path of socketPaths(next)) this.#socketPaths.add(path);
    if (next.log.format !== this.#config.log.format) {
      log.warn("config_reload_partial", { setting: "log.format", reason: "needs a restart" });
    }
    this.#config = next;
    log.setLevel(next.log.level);
    log.info("config_reloaded", { config: file, changed_channels: changedChannels });
  }

  /** Stops the engine on a signal, or for another reason (`parent_exited`). */
  async #stop(cause: { signal?: Deno.Signal; reason?: string }): Promise<void> {
    const log = this.#log;
    const { signal, reason } = cause;
    if (this.#stopping) {
      log.warn("shutdown_in_progress", { signal, reason, stage: this.#stage });
      return;
    }
    this.#stopping = true;
    this.#parentWatch?.stop();
    const started = performance.now();
    log.info("shutdown_requested", { signal, reason, deadline_ms: SHUTDOWN_DEADLINE_MS });
    const deadline = setTimeout(() => {
      log.error("shutdown_deadline_exceeded", {
        stage: this.#stage,
        waited_ms: Math.round(performance.now() - started),
      });
      removeSocketFilesNow(this.#socketPaths, log);
      Deno.exit(1);
    }, SHUTDOWN_DEADLINE_MS);

    let code = 0;
    try {
      this.#stage = "waiting for the engine to finish starting";
      const handle = await this.#handle;
      this.#stage = "finishing a config reload";
      await this.#reloads;
      this.#stage = "stopping the engine (channels, listeners)";
      await handle.stop();
    } catch (e) {
      log.error("shutdown_failed", { stage: this.#stage, error: e });
      code = 1;
    }
    this.#stage = "removing socket files";
    await removeSocketFiles(this.#socketPaths, log);
    clearTimeout(deadline);
    this.dispose();
    log.info("stopped", {
      signal,
      reason,
      exit_code: code,
      duration_ms: Math.round(performance.now() - started),
    });
    this.#resolveExit(code);
  }
}

/** Unix socket paths a configuration makes the engine listen on. */
function socketPaths(config: PlayoutConfig): string[] {
  return [
    config.grpc.unix_socket,
    ...config.channels.map((c) => c.frame_sink.enabled ? c.frame_sink.unix : undefined),
  ].filter((p): p is string => p !== undefined);
}

/** Removes unix socket files that are still there after the engine stopped. */
async function removeSocketFiles(paths: Iterable<string>, log: Logger): Promise<void> {
  for (const path of paths) {
    try {
      if (await removeSocketFile(path)) log.info("socket_removed", { path });
    } catch (e) {
      log.warn("socket_remove_failed", { path, error: e });
    }
  }
}

/** Synchronous {@link removeSocketFiles} for the hard deadline, which exits right after. */
function removeSocketFilesNow(paths: Iterable<string>, log: Logger): void {
  for (const path of paths) {
    try {
      if (removeSocketFileSync(path)) log.info("socket_removed", { path });
    } catch (e) {
      log.warn("socket_remove_failed", { path, error: e });
    }
  }
}

/** A configured media path that is missing now: the channel starts without it. */
function logMediaWarning(log: Logger, source: string, warning: ConfigProblem): void {
  log.warn("config_media_missing", {
    config: source,
    setting: warning.path,
    problem: warning.message,
  });
}

function printError(text: string): void {
  console.error(text);
}

/**
 * How long the process may live on after {@link main} returned, ms, when something other than
 * channel workers that are closing keeps its event loop alive.
 */
export const EXIT_LINGER_MS = 5000;

if (import.meta.main) {
  const code = await main(Deno.args);
  // The process ends when its event loop does, not by Deno.exit(): the loop lives on until
  // every stopped channel worker has closed itself and its thread has ended. Deno.exit() ends
  // the process at once, while a worker thread may still be tearing down (its isolate, its
  // FFmpeg libraries): the engine died with SIGSEGV on SIGTERM that way.
  Deno.exitCode = code;
  const linger = setTimeout(() => Deno.exit(code), EXIT_LINGER_MS);
  Deno.unrefTimer(linger);
}
