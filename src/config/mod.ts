/**
 * Configuration: the TOML schema (single source of truth), loading with per-path problems,
 * the embedded default, runtime-path fallbacks, and the command line.
 *
 * @module
 */

export {
  type AudioConfig,
  type ChannelConfig,
  EMBEDDED_DEFAULT_CONFIG,
  type FrameSinkConfig,
  type PlayoutConfig,
  type PlayoutConfigInput,
  PlayoutConfigSchema,
  type SourceConfig,
  type VideoConfig,
} from "./schema.ts";
export { loadConfigFile, parseConfigText, validateConfig } from "./load.ts";
export { ConfigError, type ConfigProblem, formatProblem } from "./problems.ts";
export { FrameRateError, toProgramFormat } from "./program_format.ts";
export { toChannelSpec, toStandaloneSource } from "./channel_spec.ts";
export { type PathChoice, resolveRuntimePaths } from "./runtime_paths.ts";
export {
  applyOverrides,
  type CliCommand,
  type CliOverrides,
  CliUsageError,
  parseCommandLine,
  USAGE,
} from "./cli.ts";
export { PLAYOUT_API_VERSION } from "./api_version.ts";
