/**
 * The command line: `retrovue_playout [--config FILE] [--check-config [FILE]] [--version]
 * [--log-level L] [--log-format json|human] [--port N|HOST:PORT] [--state-dir DIR]
 * [--metrics-port N|HOST:PORT] [--metrics-targets DIR]`, and the subcommands `frames ...`,
 * `state ...` and `config ...`. Parsing only; `src/main.ts` acts on the result.
 *
 * `--port` without `--config` is the Core-managed mode ({@link isCoreManaged}): RetroVue Core
 * spawns one such engine per channel session and drives it over gRPC alone.
 *
 * @module
 */

import {
  DEFAULT_METRICS_TARGETS_DIR,
  LOG_FORMAT_VALUES,
  LOG_LEVEL_VALUES,
  type PlayoutConfig,
} from "./schema.ts";
import type { ConfigProblem } from "./problems.ts";
import { parseHostPort } from "../endpoints/host_port.ts";

/** Name the program is installed as. */
export const PROGRAM_NAME = "retrovue_playout";

/** Usage text, printed for `--help` and (on stderr) for usage errors. */
export const USAGE = `Usage: ${PROGRAM_NAME} [options]
       ${PROGRAM_NAME} frames ...            frame-sink tools (see "frames --help")
       ${PROGRAM_NAME} state export|import   back up / restore config and active plans
       ${PROGRAM_NAME} config schema         print the config's JSON Schema (draft 2020-12)

Options:
  --config FILE             configuration file (TOML); without it one demo channel runs
  --check-config [FILE]     validate the configuration (FILE, else --config) and exit:
                            0 when valid, 1 with every problem listed on stderr (conflicts
                            of ids, ports and socket paths included); media missing now
                            is a warning on stderr and does not fail the check
  --log-level LEVEL         ${LOG_LEVEL_VALUES.join("|")} (overrides [log] level)
  --log-format FORMAT       json|human (overrides [log] format; default json unless a terminal)
  --port N | HOST:PORT      serve gRPC on TCP only (bare N = 127.0.0.1:N); repeatable; the
                            engine then stops when its parent process dies (not under
                            systemd). Without --config this is the Core-managed mode: no
                            channels, HTTP egress or frame sinks of its own, no plans
                            stored, metrics on 127.0.0.1 at a free port announced in
                            --metrics-targets
  --state-dir DIR           directory of the active-plans file (overrides state_dir)
  --metrics-port N | HOST:PORT
                            metrics/health listener (overrides [metrics]; bare N keeps the
                            bind address; 0 = any free port)
  --metrics-targets DIR     write a Prometheus file_sd target file for this engine into DIR
                            (Core-managed default: ${DEFAULT_METRICS_TARGETS_DIR})
  --version                 print the engine, API and FFmpeg library versions
  -h, --help                print this help
`;

/** Settings from flags that override the configuration. */
export interface CliOverrides {
  logLevel?: PlayoutConfig["log"]["level"];
  logFormat?: Exclude<PlayoutConfig["log"]["format"], "auto">;
  /** gRPC TCP listen addresses from `--port`; when set, they replace all gRPC listeners. */
  grpcTcp?: string[];
  /** `--state-dir`. */
  stateDir?: string;
  /** `--metrics-port`: the port, and the bind address when given as HOST:PORT. */
  metrics?: { bind?: string; port: number };
  /** `--metrics-targets`: directory of Prometheus file_sd target files (not a config key). */
  metricsTargetsDir?: string;
}

/** What the command line asks for. */
export type CliCommand =
  | { kind: "run"; configFile?: string; overrides: CliOverrides }
  | { kind: "check-config"; configFile?: string; overrides: CliOverrides }
  | { kind: "version" }
  | { kind: "help" }
  | { kind: "frames"; args: string[] }
  | { kind: "state"; args: string[] }
  | { kind: "config"; args: string[] };

/** A command line that cannot be understood; carries the offending argument. */
export class CliUsageError extends Error {
  override name = "CliUsageError";
  constructor(message: string, readonly argument: string) {
    super(message);
  }
}

/** Parses the arguments (without the program name). Throws {@link CliUsageError}. */
export function parseCommandLine(args: readonly string[]): CliCommand {
  if (args[0] === "frames") return { kind: "frames", args: args.slice(1) };
  if (args[0] === "state") return { kind: "state", args: args.slice(1) };
  if (args[0] === "config") return { kind: "config", args: args.slice(1) };

  let configFile: string | undefined;
  let checkConfig = false;
  let checkFile: string | undefined;
  let version = false;
  let help = false;
  const overrides: CliOverrides = {};

  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    /** The flag's value: `--flag=value` or the next argument. */
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = args[i + 1];
      if (next === undefined || (next.startsWith("-") && next !== "-")) {
        throw new CliUsageError(`${flag} needs a value`, arg);
      }
      i++;
      return next;
    };
    const noValue = () => {
      if (inline !== undefined) throw new CliUsageError(`${flag} takes no value`, arg);
    };

    switch (flag) {
      case "--config":
        configFile = value();
        break;
      case "--check-config": {
        checkConfig = true;
        const next = args[i + 1];
        if (inline !== undefined) checkFile = inline;
        else if (next !== undefined && !next.startsWith("-")) checkFile = args[++i];
        break;
      }
      case "--version":
        noValue();
        version = true;
        break;
      case "-h":
      case "--help":
        noValue();
        help = true;
        break;
      case "--log-level": {
        const level = value();
        if (!(LOG_LEVEL_VALUES as readonly string[]).includes(level)) {
          throw new CliUsageError(
            `--log-level: expected one of ${LOG_LEVEL_VALUES.join(", ")}, got ${
              JSON.stringify(level)
            }`,
            arg,
          );
        }
        overrides.logLevel = level as CliOverrides["logLevel"];
        break;
      }
      case "--log-format": {
        const format = value();
        const allowed = LOG_FORMAT_VALUES.filter((f) => f !== "auto");
        if (!(allowed as string[]).includes(format)) {
          throw new CliUsageError(
            `--log-format: expected one of ${allowed.join(", ")}, got ${JSON.stringify(format)}`,
            arg,
          );
        }
        overrides.logFormat = format as CliOverrides["logFormat"];
        break;
      }
      case "--port":
        (overrides.grpcTcp ??= []).push(parsePortFlag(value()));
        break;
      case "--state-dir":
        overrides.stateDir = nonEmpty(flag, value(), arg);
        break;
      case "--metrics-port":
        overrides.metrics = parseMetricsPortFlag(value());
        break;
      case "--metrics-targets":
        overrides.metricsTargetsDir = nonEmpty(flag, value(), arg);
        break;
      default:
        throw new CliUsageError(
          arg.startsWith("-") ? `unknown option ${arg}` : `unexpected argument ${arg}`,
          arg,
        );
    }
  }

  if (help) return { kind: "help" };
  if (version) return { kind: "version" };
  if (checkConfig) {
    if (checkFile !== undefined && configFile !== undefined && checkFile !== configFile) {
      throw new CliUsageError(
        `--check-config ${checkFile} and --config ${configFile} name different files`,
        checkFile,
      );
    }
    return { kind: "check-config", configFile: checkFile ?? configFile, overrides };
  }
  return { kind: "run", configFile, overrides };
}

/**
 * True for the Core-managed mode: `--port` given and no `--config` (how RetroVue Core spawns
 * an engine per channel session).
 */
export function isCoreManaged(command: { configFile?: string; overrides: CliOverrides }): boolean {
  return command.configFile === undefined && command.overrides.grpcTcp !== undefined;
}

function nonEmpty(flag: string, text: string, arg: string): string {
  if (text === "") throw new CliUsageError(`${flag}: expected a directory, got ""`, arg);
  return text;
}

/** `--metrics-port N` → port N (bind kept); `HOST:PORT` → both. Throws {@link CliUsageError}. */
export function parseMetricsPortFlag(text: string): { bind?: string; port: number } {
  if (/^\d{1,5}$/.test(text) && Number(text) <= 65535) return { port: Number(text) };
  const hp = parseHostPort(text, { minPort: 0 });
  if (hp === undefined) {
    throw new CliUsageError(
      `--metrics-port: expected a port 0..65535 or "HOST:PORT", got ${JSON.stringify(text)}`,
      text,
    );
  }
  return { bind: hp.host, port: hp.port };
}

/** `--port N` → "127.0.0.1:N"; `--port HOST:PORT` as is. Throws {@link CliUsageError}. */
export function parsePortFlag(text: string): string {
  const address = /^\d+$/.test(text) ? `127.0.0.1:${text}` : text;
  if (parseHostPort(address) === undefined) {
    throw new CliUsageError(
      `--port: expected a port 1..65535 or "HOST:PORT", got ${JSON.stringify(text)}`,
      text,
    );
  }
  return address;
}

/** The configuration with command-line overrides applied. */
export function applyOverrides(config: PlayoutConfig, overrides: CliOverrides): PlayoutConfig {
  return {
    ...config,
    log: {
      level: overrides.logLevel ?? config.log.level,
      format: overrides.logFormat ?? config.log.format,
    },
    grpc: overrides.grpcTcp === undefined
      ? config.grpc
      : { ...config.grpc, unix_socket: undefined, tcp: [...overrides.grpcTcp] },
    state_dir: overrides.stateDir ?? config.state_dir,
    metrics: overrides.metrics === undefined ? config.metrics : {
      ...config.metrics,
      bind: overrides.metrics.bind ?? config.metrics.bind,
      port: overrides.metrics.port,
    },
  };
}

/** A listener the final configuration asks for, by TCP port, and who asked (for messages). */
interface PortClaim {
  port: number;
  /** The config key or the flag. */
  owner: string;
  /** Set by a command-line flag (the file's own collisions are the schema's to report). */
  fromFlag: boolean;
}

/**
 * TCP port collisions that command-line overrides (`--port`, `--metrics-port`) bring into a
 * configuration, as problems at the flag: startup would fail to bind them. `httpServed` is
 * false in the Core-managed mode (no HTTP egress). Port 0 (any free port) never collides.
 */
export function overrideConflicts(
  config: PlayoutConfig,
  overrides: CliOverrides,
  httpServed: boolean,
): ConfigProblem[] {
  const claims: PortClaim[] = [];
  if (httpServed) claims.push({ port: config.http.port, owner: "http.port", fromFlag: false });
  if (config.metrics.enabled) {
    claims.push({
      port: config.metrics.port,
      owner: overrides.metrics ? "--metrics-port" : "metrics.port",
      fromFlag: overrides.metrics !== undefined,
    });
  }
  config.grpc.tcp.forEach((addr, i) => {
    const port = parseHostPort(addr)?.port;
    if (port === undefined) return;
    const fromFlag = overrides.grpcTcp !== undefined;
    claims.push({ port, owner: fromFlag ? `--port ${addr}` : `grpc.tcp[${i}]`, fromFlag });
  });
  config.channels.forEach((c, i) => {
    const port = c.frame_sink.enabled && c.frame_sink.tcp
      ? parseHostPort(c.frame_sink.tcp)?.port
      : undefined;
    if (port !== undefined) {
      claims.push({ port, owner: `channels[${i}].frame_sink.tcp`, fromFlag: false });
    }
  });
  const problems: ConfigProblem[] = [];
  const seen = new Map<number, PortClaim>();
  for (const claim of claims) {
    if (claim.port === 0) continue;
    const first = seen.get(claim.port);
    if (first === undefined) {
      seen.set(claim.port, claim);
    } else if (claim.fromFlag || first.fromFlag) {
      const flag = claim.fromFlag ? claim : first;
      const other = flag === claim ? first : claim;
      problems.push({
        path: flag.owner,
        message: `expected a port not already used by ${other.owner}, got ${claim.port}`,
      });
    }
  }
  return problems;
}
