/**
 * Loading a configuration: read the TOML file, parse it (syntax errors with line and column),
 * validate it against {@link PlayoutConfigSchema} (shape, and every conflict startup would hit:
 * ids, ports, socket paths), and resolve relative media paths against the file's directory.
 * Every problem is collected and thrown at once as a {@link ConfigError}.
 *
 * Media that does not exist now is a warning, not a problem: the engine starts anyway, and the
 * channel leaves the item out (logged once, counted) — the same as an item that goes missing
 * while the engine runs. {@link loadConfigFileChecked} returns those warnings.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { type PlayoutConfig, PlayoutConfigSchema } from "./schema.ts";
import {
  ConfigError,
  type ConfigProblem,
  describeValue,
  type LocatedProblem,
  orderProblems,
  type PathSegment,
  problemsFromZod,
} from "./problems.ts";

/** Where a configuration text came from, for messages and relative paths. */
export interface ConfigOrigin {
  /** Name used in messages (the file path, or e.g. "embedded default"). */
  source: string;
  /** Directory that relative media paths are resolved against. */
  baseDir: string;
}

/** A valid configuration and what is wrong with its media now (not fatal). */
export interface CheckedConfig {
  config: PlayoutConfig;
  /** Media files or directories named by the config that are missing or not usable now. */
  warnings: ConfigProblem[];
}

/** Reads, parses and validates the TOML file at `file`. Throws {@link ConfigError}. */
export async function loadConfigFile(file: string): Promise<PlayoutConfig> {
  return (await loadConfigFileChecked(file)).config;
}

/** {@link loadConfigFile}, also returning the media warnings. Throws {@link ConfigError}. */
export async function loadConfigFileChecked(file: string): Promise<CheckedConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new ConfigError(file, [{ path: "", message: `cannot read the file: ${errorText(e)}` }]);
  }
  return await parseConfigTextChecked(text, { source: file, baseDir: dirname(resolve(file)) });
}

/** Parses and validates TOML text. Throws {@link ConfigError} listing every problem. */
export async function parseConfigText(text: string, origin: ConfigOrigin): Promise<PlayoutConfig> {
  return (await parseConfigTextChecked(text, origin)).config;
}

/** {@link parseConfigText}, also returning the media warnings. */
export async function parseConfigTextChecked(
  text: string,
  origin: ConfigOrigin,
): Promise<CheckedConfig> {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const headline = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
    throw new ConfigError(origin.source, [{
      path: "",
      line: e.line,
      column: e.column,
      message: `invalid TOML syntax: ${headline}`,
    }]);
  }
  return await validateConfigChecked(raw, origin);
}

/**
 * Validates a parsed document against the schema. Relative media paths come back absolute.
 * Throws {@link ConfigError}.
 */
export async function validateConfig(raw: unknown, origin: ConfigOrigin): Promise<PlayoutConfig> {
  return (await validateConfigChecked(raw, origin)).config;
}

/** {@link validateConfig}, also checking (not requiring) that the media it names exists. */
export async function validateConfigChecked(
  raw: unknown,
  origin: ConfigOrigin,
): Promise<CheckedConfig> {
  const parsed = PlayoutConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(origin.source, orderProblems(problemsFromZod(parsed.error, raw)));
  }
  const warnings = orderProblems(await checkMediaPaths(raw, origin.baseDir));
  return { config: resolveMediaPaths(parsed.data, origin.baseDir), warnings };
}

/** Media paths of the raw document that the schema would accept as strings. */
function* mediaPaths(
  raw: unknown,
): Generator<{ segments: PathSegment[]; path: string; kind: "file" | "directory" }> {
  const channels = isRecord(raw) && Array.isArray(raw.channels) ? raw.channels : [];
  for (const [i, channel] of channels.entries()) {
    const source = isRecord(channel) && isRecord(channel.source) ? channel.source : undefined;
    if (source?.type === "playlist" && Array.isArray(source.files)) {
      for (const [j, file] of source.files.entries()) {
        if (typeof file === "string" && file !== "") {
          yield { segments: ["channels", i, "source", "files", j], path: file, kind: "file" };
        }
      }
    } else if (source?.type === "directory" && typeof source.path === "string" && source.path) {
      yield { segments: ["channels", i, "source", "path"], path: source.path, kind: "directory" };
    }
  }
}

async function checkMediaPaths(raw: unknown, baseDir: string): Promise<LocatedProblem[]> {
  const checks = [...mediaPaths(raw)].map(async ({ segments, path, kind }) => {
    const full = resolvePath(baseDir, path);
    const shown = full === path ? describeValue(path) : `${describeValue(path)} (${full})`;
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(full);
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "does not exist" : errorText(e);
      return { segments, message: `expected an existing ${kind}, got ${shown}: ${why}` };
    }
    const ok = kind === "file" ? info.isFile : info.isDirectory;
    return ok ? undefined : {
      segments,
      message: `expected an existing ${kind}, got ${shown}: not a ${kind}`,
    };
  });
  return (await Promise.all(checks)).filter((p): p is LocatedProblem => p !== undefined);
}

function resolveMediaPaths(config: PlayoutConfig, baseDir: string): PlayoutConfig {
  return {
    ...config,
    channels: config.channels.map((channel) => {
      const source = channel.source;
      if (source.type === "playlist") {
        return {
          ...channel,
          source: { ...source, files: source.files.map((f) => resolvePath(baseDir, f)) },
        };
      }
      if (source.type === "directory") {
        return { ...channel, source: { ...source, path: resolvePath(baseDir, source.path) } };
      }
      return channel;
    }),
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function resolvePath(baseDir: string, path: string): string {
  return resolve(baseDir, path);
}
