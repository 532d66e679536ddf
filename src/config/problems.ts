/**
 * Configuration problems: what is wrong, where (the TOML path), expected vs found, and the
 * {@link ConfigError} that carries all of them at once.
 *
 * @module
 */

import type { z } from "zod";

/** A segment of a TOML path: a key or an array index. */
export type PathSegment = string | number;

/** One thing wrong with a configuration. */
export interface ConfigProblem {
  /** Where, as a TOML path like `channels[2].format.frame_rate`; "" for the whole file. */
  path: string;
  /** What is wrong, usually `expected …, got …`. */
  message: string;
  /** 1-based line of a TOML syntax error. */
  line?: number;
  /** 1-based column of a TOML syntax error. */
  column?: number;
}

/** A configuration that cannot be used; lists every problem found. */
export class ConfigError extends Error {
  override name = "ConfigError";
  /**
   * @param source The file (or "embedded default" / "command line") the problems are in.
   * @param problems Every problem, in path order.
   */
  constructor(readonly source: string, readonly problems: readonly ConfigProblem[]) {
    super(
      `${source}: ${problems.length} configuration problem${problems.length === 1 ? "" : "s"}:\n` +
        problems.map((p) => "  " + formatProblem(p)).join("\n"),
    );
  }
}

/** One problem as a line: `path: message`, or `line L, column C: message`. */
export function formatProblem(problem: ConfigProblem): string {
  if (problem.line !== undefined) {
    return `line ${problem.line}, column ${problem.column ?? 1}: ${problem.message}`;
  }
  return problem.path === "" ? problem.message : `${problem.path}: ${problem.message}`;
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** Renders a path the way TOML users read it: `channels[2].format.frame_rate`. */
export function formatTomlPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (BARE_KEY.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `${out === "" ? "" : "."}${JSON.stringify(segment)}`;
  }
  return out;
}

const MAX_VALUE_CHARS = 60;

/** A short rendering of a found value: strings quoted, tables as "a table". */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "string" || Array.isArray(value)) {
    let text: string;
    try {
      text = JSON.stringify(value, (_k, v) => typeof v === "bigint" ? v.toString() : v);
    } catch (e) {
      text = `an unprintable value (${(e as Error).message})`;
    }
    return text.length > MAX_VALUE_CHARS ? text.slice(0, MAX_VALUE_CHARS - 1) + "…" : text;
  }
  if (typeof value === "object" && value !== null) return "a table";
  return String(value);
}

/** The value at `path` inside `root`, or undefined when the path does not exist. */
export function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let node = root;
  for (const segment of path) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<PathSegment, unknown>)[segment];
  }
  return node;
}

/** A problem with its path kept as segments, for ordering. */
export interface LocatedProblem {
  segments: PathSegment[];
  message: string;
}

/** `expected <phrase>, got <found value>` problems from a zod error over `raw`. */
export function problemsFromZod(error: z.ZodError, raw: unknown): LocatedProblem[] {
  const out: LocatedProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        out.push({
          segments: [...issue.path, key],
          message: `unknown key, expected ${issue.message}`,
        });
      }
      continue;
    }
    out.push({
      segments: [...issue.path],
      message: `expected ${issue.message}, got ${describeValue(valueAt(raw, issue.path))}`,
    });
  }
  return out;
}

function compareSegments(a: readonly PathSegment[], b: readonly PathSegment[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] === b[i]) continue;
    if (typeof a[i] === "number" && typeof b[i] === "number") {
      return (a[i] as number) - (b[i] as number);
    }
    return String(a[i]) < String(b[i]) ? -1 : 1;
  }
  return a.length - b.length;
}

/** Sorts problems by path (indices numerically; stable) and renders their paths. */
export function orderProblems(problems: readonly LocatedProblem[]): ConfigProblem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((x, y) => compareSegments(x.p.segments, y.p.segments) || x.i - y.i)
    .map(({ p }) => ({ path: formatTomlPath(p.segments), message: p.message }));
}
