/**
 * The Windows stand-ins for the Linux-only defaults of a configuration (Windows development
 * boxes run the engine next to Core; see `packaging/windows/README.txt`):
 *
 * - gRPC: no Unix socket; TCP on {@link WINDOWS_GRPC_TCP} unless `grpc.tcp` (or `--port`)
 *   names addresses.
 * - Frame sinks: Renderers on Windows look for the named pipe `\\.\pipe\retrovue-playout-<id>`,
 *   which Deno cannot serve; each channel's sink listens on TCP 127.0.0.1 port
 *   {@link WINDOWS_FRAME_SINK_PORT_BASE} + id instead (one notice says so).
 * - State: `%ProgramData%\RetroVue\playout\state`.
 * - Socket permission bits do not apply (no Unix sockets).
 *
 * Settings a configuration spells out are kept, except Unix socket paths, which are problems
 * there. Pure: the environment is injected.
 *
 * @module
 */

import type { ConfigProblem } from "./problems.ts";
import {
  DEFAULT_GRPC_SOCKET,
  DEFAULT_HTTP_PORT,
  DEFAULT_METRICS_PORT,
  DEFAULT_STATE_DIR,
  defaultFrameSinkPath,
  type PlayoutConfig,
} from "./schema.ts";
import { parseHostPort } from "../endpoints/host_port.ts";

/** gRPC listen address on Windows when the configuration names none. */
export const WINDOWS_GRPC_TCP = "127.0.0.1:50051";
/** Channel `id`'s default frame sink on Windows is TCP 127.0.0.1:(this + id). */
export const WINDOWS_FRAME_SINK_PORT_BASE = 47000;

/** The named pipe a Windows Renderer expects for channel `id` (not servable by Deno). */
export function windowsNamedPipe(id: number): string {
  return `\\\\.\\pipe\\retrovue-playout-${id}`;
}

/** Channel `id`'s default frame-sink address on Windows, or undefined past port 65535. */
export function windowsFrameSinkTcp(id: number): string | undefined {
  const port = WINDOWS_FRAME_SINK_PORT_BASE + id;
  return port <= 65535 ? `127.0.0.1:${port}` : undefined;
}

/** `%ProgramData%\RetroVue`, the root of everything the engine writes on Windows. */
export function windowsProgramDataDir(env: (name: string) => string | undefined): string {
  const base = env("ProgramData") ?? env("PROGRAMDATA") ?? "C:\\ProgramData";
  return `${base.replace(/[\\/]+$/, "")}\\RetroVue`;
}

/** Default state directory on Windows. */
export function windowsStateDir(env: (name: string) => string | undefined): string {
  return `${windowsProgramDataDir(env)}\\playout\\state`;
}

/** Where `state export|import` find the configuration by default on Windows. */
export function windowsConfigPath(env: (name: string) => string | undefined): string {
  return `${windowsProgramDataDir(env)}\\playout\\config.toml`;
}

/** The state directory `config` means on `os` (the Windows default replaces the Linux one). */
export function stateDirFor(
  config: PlayoutConfig,
  os: typeof Deno.build.os,
  env: (name: string) => string | undefined,
): string {
  return os === "windows" && config.state_dir === DEFAULT_STATE_DIR
    ? windowsStateDir(env)
    : config.state_dir;
}

/** A Windows default that replaced a Linux one. */
export interface WindowsChoice {
  /** The setting, as a TOML path. */
  setting: string;
  /** What is used. */
  value: string;
  /** The Linux default it replaces. */
  replaces: string;
}

/** What {@link applyWindowsDefaults} made of a configuration. */
export interface WindowsDefaults {
  config: PlayoutConfig;
  choices: WindowsChoice[];
  /** Channels whose frame sink moved from a named pipe to TCP (for the one-time notice). */
  pipeFallbacks: { channel: number; pipe: string; tcp: string }[];
  /** Settings that cannot work on Windows; non-empty means the configuration is refused. */
  problems: ConfigProblem[];
}

/** Replaces the Linux-only defaults of `config` by their Windows stand-ins. */
export function applyWindowsDefaults(
  config: PlayoutConfig,
  env: (name: string) => string | undefined,
): WindowsDefaults {
  const choices: WindowsChoice[] = [];
  const problems: ConfigProblem[] = [];
  const pipeFallbacks: WindowsDefaults["pipeFallbacks"] = [];

  let grpc = config.grpc;
  if (grpc.unix_socket !== undefined && grpc.unix_socket !== DEFAULT_GRPC_SOCKET) {
    problems.push({
      path: "grpc.unix_socket",
      message: `expected "" on Windows (no Unix sockets there; use grpc.tcp), got ${
        JSON.stringify(grpc.unix_socket)
      }`,
    });
  }
  if (grpc.unix_socket === DEFAULT_GRPC_SOCKET) {
    const tcp = grpc.tcp.length > 0 ? grpc.tcp : [WINDOWS_GRPC_TCP];
    if (grpc.tcp.length === 0) {
      choices.push({ setting: "grpc.tcp", value: WINDOWS_GRPC_TCP, replaces: DEFAULT_GRPC_SOCKET });
    }
    grpc = { ...grpc, unix_socket: undefined, tcp };
  }

  let stateDir = config.state_dir;
  if (stateDir === DEFAULT_STATE_DIR) {
    stateDir = windowsStateDir(env);
    choices.push({ setting: "state_dir", value: stateDir, replaces: DEFAULT_STATE_DIR });
  }

  // Ports already taken, to keep the per-channel defaults off them.
  const taken = new Map<number, string>();
  taken.set(config.http.port ?? DEFAULT_HTTP_PORT, "http.port");
  if (config.metrics.enabled) {
    taken.set(config.metrics.port ?? DEFAULT_METRICS_PORT, "metrics.port");
  }
  grpc.tcp.forEach((a, i) => {
    const p = parseHostPort(a)?.port;
    if (p !== undefined) taken.set(p, `grpc.tcp[${i}]`);
  });
  config.channels.forEach((c, i) => {
    const p = c.frame_sink.tcp === undefined ? undefined : parseHostPort(c.frame_sink.tcp)?.port;
    if (p !== undefined) taken.set(p, `channels[${i}].frame_sink.tcp`);
  });

  const channels = config.channels.map((c, i) => {
    const sink = c.frame_sink;
    const at = `channels[${i}].frame_sink`;
    if (sink.unix === undefined || !sink.enabled) return c;
    if (sink.unix !== defaultFrameSinkPath(c.id)) {
      problems.push({
        path: `${at}.unix`,
        message: `expected no unix path on Windows (no Unix sockets there; use ${at}.tcp), got ${
          JSON.stringify(sink.unix)
        }`,
      });
      return c;
    }
    if (sink.tcp !== undefined) return { ...c, frame_sink: { ...sink, unix: undefined } };
    const tcp = windowsFrameSinkTcp(c.id);
    const port = tcp === undefined ? undefined : parseHostPort(tcp)!.port;
    if (tcp === undefined || port === undefined) {
      problems.push({
        path: `${at}.tcp`,
        message: `channel id ${c.id} has no default frame-sink port on Windows ` +
          `(${WINDOWS_FRAME_SINK_PORT_BASE} + id is over 65535); set ${at}.tcp`,
      });
      return c;
    }
    const owner = taken.get(port);
    if (owner !== undefined) {
      problems.push({
        path: `${at}.tcp`,
        message: `the Windows default ${tcp} of channel ${c.id} is already used by ${owner}; ` +
          `set ${at}.tcp`,
      });
      return c;
    }
    taken.set(port, `${at}.tcp`);
    choices.push({ setting: `${at}.tcp`, value: tcp, replaces: sink.unix });
    pipeFallbacks.push({ channel: c.id, pipe: windowsNamedPipe(c.id), tcp });
    return { ...c, frame_sink: { ...sink, unix: undefined, tcp } };
  });

  return {
    config: { ...config, grpc, state_dir: stateDir, channels },
    choices,
    pipeFallbacks,
    problems,
  };
}
