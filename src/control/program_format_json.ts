/**
 * Parses the wire's `program_format_json` into a {@link ProgramFormat}:
 *
 * ```json
 * {"video":{"width":1280,"height":720,"frame_rate":"30000/1001"},
 *  "audio":{"sample_rate":48000,"channels":2},
 *  "aspect_policy":"preserve"}
 * ```
 *
 * `video.width`, `video.height`, `video.frame_rate`, `audio.sample_rate` and `audio.channels`
 * are required; `aspect_policy` (top level, or inside `video`) is optional and defaults to
 * `preserve`; unknown fields are ignored.
 *
 * @module
 */

import { z } from "zod";
import type { AspectPolicy, ProgramFormat } from "../../media/program_format.ts";
import { parseRational, type Rational } from "../../media/rational.ts";

/** Largest accepted raster (8K UHD). */
export const MAX_WIDTH = 7680;
/** Largest accepted raster height (8K UHD). */
export const MAX_HEIGHT = 4320;
/** Smallest accepted raster side. */
export const MIN_SIDE = 16;
/** Accepted frame rates, frames per second (inclusive). */
export const FRAME_RATE_RANGE: readonly [number, number] = Object.freeze([1, 240] as const);
/** Accepted audio sample rates, Hz (inclusive). */
export const SAMPLE_RATE_RANGE: readonly [number, number] = Object.freeze([8000, 192000] as const);
/** Largest accepted audio channel count. */
export const MAX_CHANNELS = 8;

/** `program_format_json` is missing a required field or has an invalid one. */
export class ProgramFormatJsonError extends Error {
  override name = "ProgramFormatJsonError";
  /**
   * @param field dotted path of the offending field inside the JSON (e.g. `video.width`),
   *   or `""` when the text is not a JSON object at all
   * @param value the offending value
   */
  constructor(readonly field: string, readonly value: unknown, message: string) {
    super(message);
  }
}

const evenSide = (max: number) =>
  z.number({ required_error: "is required", invalid_type_error: "must be a number" })
    .int("must be an integer")
    .min(MIN_SIDE, `must be at least ${MIN_SIDE}`)
    .max(max, `must be at most ${max}`)
    .refine((n) => n % 2 === 0, "must be even (YUV 4:2:0)");

const frameRate = z.union([z.string(), z.number()], {
  required_error: "is required",
  invalid_type_error: 'must be a string like "30000/1001" or an integer',
}).transform((value, ctx): Rational => {
  const r = typeof value === "number" ? integerRate(value) : parseRational(value);
  if (r === undefined) {
    ctx.addIssue({ code: "custom", message: 'must look like "30000/1001" or "25"' });
    return z.NEVER;
  }
  const fps = r.num / r.den;
  if (fps < FRAME_RATE_RANGE[0] || fps > FRAME_RATE_RANGE[1]) {
    ctx.addIssue({
      code: "custom",
      message: `must be between ${FRAME_RATE_RANGE[0]} and ${FRAME_RATE_RANGE[1]} fps`,
    });
    return z.NEVER;
  }
  return r;
});

function integerRate(n: number): Rational | undefined {
  return Number.isSafeInteger(n) && n > 0 ? { num: n, den: 1 } : undefined;
}

const aspectPolicy = z.enum(["preserve", "stretch", "crop"], {
  errorMap: () => ({ message: 'must be "preserve", "stretch" or "crop"' }),
});

const programFormatSchema = z.object({
  video: z.object({
    width: evenSide(MAX_WIDTH),
    height: evenSide(MAX_HEIGHT),
    frame_rate: frameRate,
    aspect_policy: aspectPolicy.optional(),
  }, { required_error: "is required", invalid_type_error: "must be an object" }),
  audio: z.object({
    sample_rate: z.number({ required_error: "is required", invalid_type_error: "must be a number" })
      .int("must be an integer")
      .min(SAMPLE_RATE_RANGE[0], `must be at least ${SAMPLE_RATE_RANGE[0]}`)
      .max(SAMPLE_RATE_RANGE[1], `must be at most ${SAMPLE_RATE_RANGE[1]}`),
    channels: z.number({ required_error: "is required", invalid_type_error: "must be a number" })
      .int("must be an integer")
      .min(1, "must be at least 1")
      .max(MAX_CHANNELS, `must be at most ${MAX_CHANNELS}`),
  }, { required_error: "is required", invalid_type_error: "must be an object" }),
  aspect_policy: aspectPolicy.optional(),
}, { invalid_type_error: "must be a JSON object" });

/**
 * Parses `program_format_json`.
 *
 * @throws {ProgramFormatJsonError} naming the first missing or invalid field
 */
export function parseProgramFormatJson(text: string): ProgramFormat {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ProgramFormatJsonError("", text, `not valid JSON: ${(err as Error).message}`);
  }
  const parsed = programFormatSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join(".");
    const value = valueAt(json, issue.path);
    const where = field === "" ? "program_format_json" : field;
    throw new ProgramFormatJsonError(field, value, `${where} ${issue.message}`);
  }
  const { video, audio } = parsed.data;
  const policy: AspectPolicy = parsed.data.aspect_policy ?? video.aspect_policy ?? "preserve";
  return {
    width: video.width,
    height: video.height,
    frameRate: video.frame_rate,
    sampleRate: audio.sample_rate,
    channels: audio.channels,
    aspectPolicy: policy,
  };
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}
