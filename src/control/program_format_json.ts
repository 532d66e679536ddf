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
 * are required and checked by the one program-format validator (`media/program_format.ts`);
 * `aspect_policy` (top level, or inside `video`) is optional and defaults to
 * `preserve`; unknown fields are ignored.
 *
 * @module
 */

import { z } from "zod";
import {
  type AspectPolicy,
  type ProgramFormat,
  type ProgramFormatField,
  programFormatProblems,
} from "../../media/program_format.ts";
import { parseRational, type Rational } from "../../media/rational.ts";
import { valueAt } from "../config/problems.ts";

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

const number = () =>
  z.number({ required_error: "is required", invalid_type_error: "must be a number" });

const frameRate = z.union([z.string(), z.number()], {
  required_error: "is required",
  invalid_type_error: 'must be a string like "30000/1001" or an integer',
}).transform((value, ctx): Rational => {
  const r = typeof value === "number" ? integerRate(value) : parseRational(value);
  if (r === undefined) {
    ctx.addIssue({ code: "custom", message: 'must look like "30000/1001" or "25"' });
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
    width: number(),
    height: number(),
    frame_rate: frameRate,
    aspect_policy: aspectPolicy.optional(),
  }, { required_error: "is required", invalid_type_error: "must be an object" }),
  audio: z.object({
    sample_rate: number(),
    channels: number(),
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
  const format: ProgramFormat = {
    width: video.width,
    height: video.height,
    frameRate: video.frame_rate,
    sampleRate: audio.sample_rate,
    channels: audio.channels,
    aspectPolicy: policy,
  };
  const problem = programFormatProblems(format)[0];
  if (problem !== undefined) {
    const field = JSON_FIELD[problem.field];
    const value = valueAt(json, field.split("."));
    throw new ProgramFormatJsonError(
      field,
      value,
      `${field} must be ${problem.expected}, got ${JSON.stringify(value)}`,
    );
  }
  return format;
}

/** Where each field of a program format is in the JSON. */
const JSON_FIELD: Readonly<Record<ProgramFormatField, string>> = {
  width: "video.width",
  height: "video.height",
  frameRate: "video.frame_rate",
  sampleRate: "audio.sample_rate",
  channels: "audio.channels",
};
