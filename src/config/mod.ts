/**
 * Configuration: the TOML schema (single source of truth), loading with per-path problems,
 * the embedded default, runtime-path fallbacks, and the command line.
 *
 * @module
 */

export {
  type AudioConfig,
  type ChannelConfig,
  CORE_MANAGED_CONFIG,
  DEFAULT_METRICS_TARGETS_DIR,
  EMBEDDED_DEFAULT_CONFIG,
  type FrameSinkConfig,
  type PlayoutConfig,
  type PlayoutConfigInput,
  PlayoutConfigSchema,
  type SourceConfig,
  type VideoConfig,
} from "./schema.ts";
export {
  type CheckedConfig,
  loadConfigFile,
  loadConfigFileChecked,
  parseConfigText,
  parseConfigTextChecked,
  validateConfig,
  validateConfigChecked,
} from "./load.ts";
export { ConfigError, type ConfigProblem, formatProblem } from "./problems.ts";
export { FrameRateError, toProgramFormat } from "./program_format.ts";
export { toChannelSpec, toStandaloneSource } from "./channel_spec.ts";
export { type PathChoice, resolveMetricsTargetsDir, resolveRuntimePaths } from "./runtime_paths.ts";
export { instanceName } from "./instance.ts";
export {
  applyOverrides,
  type CliCommand,
  type CliOverrides,
  CliUsageError,
  isCoreManaged,
  overrideConflicts,
  parseCommandLine,
  USAGE,
} from "./cli.ts";
export { PLAYOUT_API_VERSION } from "./api_version.ts";
