/**
 * Resolves a segment-mode `plan_handle` (StartChannel / UpdatePlan) into segment items.
 *
 * A handle is either
 * - a plan file: a path (or `file:` URI) ending in `.json` holding a JSON list of segments,
 *   or an object `{"segments": [...]}`; or
 * - a single asset: any other existing file, played from its start to its end.
 *
 * A plan segment is an object:
 *
 * ```json
 * {"asset_path": "shows/ep1.mkv", "start_frame": 0, "frame_count": -1, "fps": "30000/1001"}
 * ```
 *
 * `asset_path` is required (a path or `file:` URI; relative paths are resolved against the
 * plan file's directory); `start_frame` (default 0) and `frame_count` (default -1 = to end of
 * file, otherwise at least 1) count frames at `fps` (`"num/den"` or an integer; default
 * 30000/1001). Assets named by a plan file are not required to exist: a missing asset plays
 * pad, like in block mode. Unknown fields are ignored.
 *
 * @module
 */

import { z } from "zod";
import { parseRational, type Rational } from "../../media/rational.ts";
import type { SegmentItem } from "../engine/plan.ts";
import { pathOfLocation } from "../endpoints/file_uri.ts";
import { valueAt } from "../config/problems.ts";

/** Most segments a plan file may hold. */
export const MAX_PLAN_SEGMENTS = 10_000;
/** Largest plan file read, bytes. */
export const MAX_PLAN_FILE_BYTES = 4 * 1024 * 1024;
/** Frame rate of `start_frame`/`frame_count` when a segment gives none. */
export const DEFAULT_PLAN_FPS: Readonly<Rational> = Object.freeze({ num: 30000, den: 1001 });

/** A plan handle that cannot be resolved. Subclasses say why. */
export class PlanHandleError extends Error {
  override name = "PlanHandleError";
  /**
   * @param handle the plan handle as given
   * @param value the offending value (a path, a field value, ...)
   */
  constructor(readonly handle: string, readonly value: unknown, message: string) {
    super(message);
  }
}

/** The handle is empty or names no existing file. */
export class PlanHandleNotFoundError extends PlanHandleError {
  override name = "PlanHandleNotFoundError";
}

/** The handle names something other than a regular file (e.g. a directory). */
export class PlanHandleNotAFileError extends PlanHandleError {
  override name = "PlanHandleNotAFileError";
}

/** The plan file is larger than {@link MAX_PLAN_FILE_BYTES}. */
export class PlanFileTooLargeError extends PlanHandleError {
  override name = "PlanFileTooLargeError";
}

/** The plan file is not valid JSON. */
export class PlanFileSyntaxError extends PlanHandleError {
  override name = "PlanFileSyntaxError";
}

/** The plan file is JSON but not a valid plan; `field` is the dotted path of the offender. */
export class PlanFileInvalidError extends PlanHandleError {
  override name = "PlanFileInvalidError";
  constructor(handle: string, readonly field: string, value: unknown, message: string) {
    super(handle, value, message);
  }
}

const fpsSchema = z.union([z.string(), z.number()], {
  invalid_type_error: 'must be a string like "30000/1001" or an integer',
}).transform((value, ctx): Rational => {
  const r = typeof value === "number"
    ? (Number.isSafeInteger(value) && value > 0 ? { num: value, den: 1 } : undefined)
    : parseRational(value);
  if (r === undefined) {
    ctx.addIssue({ code: "custom", message: 'must look like "30000/1001" or "25"' });
    return z.NEVER;
  }
  return r;
});

const segmentSchema = z.object({
  asset_path: z.string({ required_error: "is required", invalid_type_error: "must be a string" })
    .min(1, "must not be empty")
    .max(4096, "must be at most 4096 characters"),
  start_frame: z.number({ invalid_type_error: "must be a number" })
    .int("must be an integer")
    .min(0, "must not be negative")
    .max(Number.MAX_SAFE_INTEGER, "is too large")
    .default(0),
  frame_count: z.number({ invalid_type_error: "must be a number" })
    .int("must be an integer")
    .max(Number.MAX_SAFE_INTEGER, "is too large")
    .refine((n) => n === -1 || n >= 1, "must be -1 (to end of file) or at least 1")
    .default(-1),
  fps: fpsSchema.optional(),
}, { invalid_type_error: "must be an object" });

const segmentListSchema = z.array(segmentSchema, { invalid_type_error: "must be a list" })
  .min(1, "must hold at least one segment")
  .max(MAX_PLAN_SEGMENTS, `must hold at most ${MAX_PLAN_SEGMENTS} segments`);

const planSchema = z.union([
  segmentListSchema,
  z.object({ segments: segmentListSchema }, { invalid_type_error: "must be an object" }),
], {
  errorMap: () => ({ message: 'must be a list of segments or {"segments": [...]}' }),
});

/**
 * Resolves a plan handle into the segment items to play.
 *
 * @throws {PlanHandleError} (a subclass) when the handle cannot be resolved
 */
export async function parsePlanHandle(handle: string): Promise<SegmentItem[]> {
  const path = handleToPath(handle);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new PlanHandleNotFoundError(handle, path, `plan_handle ${path} does not exist`);
    }
    throw err;
  }
  if (!info.isFile) {
    throw new PlanHandleNotAFileError(handle, path, `plan_handle ${path} is not a file`);
  }
  if (!path.toLowerCase().endsWith(".json")) {
    return [{ assetPath: path, startFrame: 0, frameCount: -1, fps: { ...DEFAULT_PLAN_FPS } }];
  }
  if (info.size > MAX_PLAN_FILE_BYTES) {
    throw new PlanFileTooLargeError(
      handle,
      info.size,
      `plan file ${path} is ${info.size} bytes; at most ${MAX_PLAN_FILE_BYTES} are read`,
    );
  }
  const text = await Deno.readTextFile(path);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PlanFileSyntaxError(
      handle,
      path,
      `plan file ${path} is not valid JSON: ${(err as Error).message}`,
    );
  }
  const parsed = planSchema.safeParse(json);
  if (!parsed.success) {
    const issue = deepestIssue(parsed.error);
    const field = issue.path.join(".");
    throw new PlanFileInvalidError(
      handle,
      field,
      valueAt(json, issue.path),
      `plan file ${path}: ${field === "" ? "plan" : field} ${issue.message}`,
    );
  }
  const listed = Array.isArray(parsed.data);
  const segments = Array.isArray(parsed.data) ? parsed.data : parsed.data.segments;
  const baseDir = path.slice(0, path.lastIndexOf("/") + 1) || "./";
  return segments.map((s, i) => {
    const assetPath = resolveAssetPath(s.asset_path, baseDir);
    if (assetPath === undefined) {
      const field = `${listed ? "" : "segments."}${i}.asset_path`;
      throw new PlanFileInvalidError(
        handle,
        field,
        s.asset_path,
        `plan file ${path}: ${field} is not a valid file: URI`,
      );
    }
    return {
      assetPath,
      startFrame: s.start_frame,
      frameCount: s.frame_count,
      fps: s.fps ?? { ...DEFAULT_PLAN_FPS },
    };
  });
}

function handleToPath(handle: string): string {
  const trimmed = handle.trim();
  if (trimmed === "") {
    throw new PlanHandleNotFoundError(handle, handle, "plan_handle is empty");
  }
  const path = resolveAssetPath(trimmed, "");
  if (path === undefined) {
    throw new PlanHandleNotFoundError(
      handle,
      handle,
      `plan_handle ${handle} is not a valid file: URI`,
    );
  }
  return path;
}

/** An absolute path for `asset`, or undefined for a malformed `file:` URI. */
function resolveAssetPath(asset: string, baseDir: string): string | undefined {
  if (asset.startsWith("file:")) return pathOfLocation(asset);
  return asset.startsWith("/") ? asset : baseDir + asset;
}

/**
 * The most specific issue: a union failure reports its own generic message, but when every
 * branch failed inside the list the list's issue says what is actually wrong.
 */
function deepestIssue(error: z.ZodError): z.ZodIssue {
  let best = error.issues[0];
  const visit = (issue: z.ZodIssue) => {
    if (issue.path.length > best.path.length) best = issue;
    if (issue.code === "invalid_union") {
      for (const e of issue.unionErrors) for (const i of e.issues) visit(i);
    }
  };
  for (const issue of error.issues) visit(issue);
  return best;
}
