/**
 * The configuration schema published as JSON Schema (draft 2020-12), generated from the zod
 * schema in `schema.ts` — the one source of truth; nothing here restates a field. Any JSON
 * Schema validator can check a `config.toml` converted to JSON against it (RetroVue's shared
 * schema tooling does so before deployment): `retrovue_playout config schema > config.schema.json`.
 *
 * A generic validator checks shapes, types, ranges, enums, unknown keys and patterns. It
 * cannot check what only the engine knows; `retrovue_playout --check-config` checks those too
 * ({@link CHECKS_BEYOND_JSON_SCHEMA}).
 *
 * @module
 */

import { zodToJsonSchema } from "zod-to-json-schema";
import { PlayoutConfigSchema } from "./schema.ts";

/** The JSON Schema dialect of {@link configJsonSchema}. */
export const JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema";

/** Identifier of the published schema. */
export const CONFIG_SCHEMA_ID = "urn:retrovue:playout:config";

/**
 * Rules of the zod schema (refinements, cross-field checks, the file system) that a generic
 * JSON Schema validator does not apply; `--check-config` does.
 */
export const CHECKS_BEYOND_JSON_SCHEMA: readonly string[] = Object.freeze([
  'channels[].format.frame_rate is "N/D" (or "N") with a rate of 1..240 fps, N and D at most ' +
  "2147483647; with video codec mpeg2video a rate MPEG-2 can code; with audio codec mp2 a " +
  "sample_rate of 16000..48000 (16000, 22050, 24000, 32000, 44100, 48000) and 1 or 2 channels",
  'grpc.tcp[] and channels[].frame_sink.tcp are "HOST:PORT" with port 1..65535',
  'grpc.unix_socket_mode is permission bits: "0660" as a string, or a number 0..0o777',
  'http.public_url is an http(s) URL, a path prefix like "/retrovue", or ""',
  'channels[].logo is a valid URL (JSON Schema\'s "format": "uri" is only an annotation to ' +
  "most validators)",
  "channels[].video: crf and bitrate_kbps are not both set; no crf with codec mpeg2video",
  "channels[].id values are unique",
  "no two listeners share a TCP port: http.port, metrics.port (when enabled), grpc.tcp[], " +
  "channels[].frame_sink.tcp (port 0 = any free port never collides)",
  "no two listeners share a unix socket path: grpc.unix_socket and every enabled " +
  "channels[].frame_sink.unix, including the default /run/retrovue/playout-<id>",
  "media named by channels[].source exists (only a warning: the engine starts without it)",
]);

/** The configuration's JSON Schema (draft 2020-12), as a JSON-ready object. */
export function configJsonSchema(): Record<string, unknown> {
  // Inputs, not outputs: the schema says what a file may contain, defaults included.
  const generated = zodToJsonSchema(PlayoutConfigSchema, {
    target: "jsonSchema2019-09",
    $refStrategy: "none",
    effectStrategy: "input",
    pipeStrategy: "input",
  }) as Record<string, unknown>;
  const { $schema: _dialect, ...body } = generated;
  return {
    $schema: JSON_SCHEMA_DIALECT,
    $id: CONFIG_SCHEMA_ID,
    title: "retrovue-playout configuration (config.toml as JSON)",
    description: "Generated from the engine's zod schema. Also checked by " +
      "`retrovue_playout --check-config`, beyond this schema: " +
      CHECKS_BEYOND_JSON_SCHEMA.join("; ") + ".",
    ...body,
  };
}
