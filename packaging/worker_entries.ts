/**
 * Finds the Web Worker entry modules of the program, so that both layouts ship them:
 * `deno compile` needs them passed with `--include`, and `deno bundle` leaves
 * `new Worker(new URL("./w.ts", import.meta.url))` untouched, so the runtime+bundle layout
 * bundles each worker on its own and rewrites those URLs (see {@linkcode rewriteWorkerUrls}).
 *
 * Only statically analysable shapes are supported: `new Worker(new URL("<literal>",
 * import.meta.url)`, `new Worker(import.meta.resolve("<literal>")`, and `new Worker(NAME` where
 * the same module declares `const NAME = new URL("<literal>", import.meta.url)`. Any other
 * `new Worker(` in the program fails the build instead of shipping a package whose channels
 * cannot start.
 *
 * @module
 */

import { dirname, relative, resolve } from "node:path";
import { readProgramGraph } from "./program_graph.ts";
import { fileURLToPath, pathToFileURL } from "node:url";

/** One `new Worker(...)` site in the sources. */
export interface WorkerEntry {
  /** Absolute path of the module that creates the worker. */
  sourceFile: string;
  /** The literal URL as written (relative to `sourceFile`). */
  specifier: string;
  /** Absolute path of the worker's entry module. */
  entryFile: string;
}

/** A `new Worker(` whose module cannot be determined statically. */
export class UnsupportedWorkerSiteError extends Error {
  override name = "UnsupportedWorkerSiteError";
  constructor(readonly file: string, readonly line: number, readonly value: string) {
    super(
      `${file}:${line}: cannot package this worker (use ` +
        `new Worker(new URL("./w.ts", import.meta.url), ...)): ${value.trim()}`,
    );
  }
}

/** The same worker URL literal means different modules in different source files. */
export class AmbiguousWorkerUrlError extends Error {
  override name = "AmbiguousWorkerUrlError";
  constructor(readonly value: string, readonly entryFiles: readonly string[]) {
    super(
      `worker URL ${JSON.stringify(value)} names different modules in different files ` +
        `(${entryFiles.join(", ")}); the bundle cannot tell them apart: rename one`,
    );
  }
}

/** A module-relative URL: `new URL("<literal>", import.meta.url)` or `import.meta.resolve(...)`. */
const MODULE_URL =
  String.raw`(?:new\s+URL\(\s*(?:"([^"]+)"|'([^']+)')\s*,\s*import\.meta\.url\s*\)` +
  String.raw`|import\.meta\.resolve\(\s*(?:"([^"]+)"|'([^']+)')\s*\))`;
const MODULE_URL_RE = new RegExp(MODULE_URL, "g");
const SUPPORTED_SITE = new RegExp(String.raw`new\s+Worker\(\s*` + MODULE_URL, "g");
/** `const NAME = new URL("<literal>", import.meta.url)` (a constant later given to Worker). */
const URL_CONSTANT = new RegExp(
  String.raw`(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::\s*URL\s*)?=\s*` + MODULE_URL,
  "g",
);
const ANY_SITE = /new\s+Worker\s*\(\s*([A-Za-z_$][\w$]*)?/g;

/**
 * Worker sites of the program rooted at `entry`: its module graph is scanned, then each
 * worker's own graph (workers may start workers).
 */
export async function findWorkerEntries(entry: string): Promise<WorkerEntry[]> {
  const entries: WorkerEntry[] = [];
  const scanned = new Set<string>();
  const roots = [resolve(entry)];
  const rooted = new Set(roots);
  while (roots.length > 0) {
    const { modules } = await readProgramGraph([roots.shift()!]);
    for (const file of modules) {
      if (scanned.has(file) || !/\.[cm]?[jt]sx?$/.test(file)) continue;
      scanned.add(file);
      for (const site of findWorkerSites(file, await Deno.readTextFile(file))) {
        entries.push(site);
        if (!rooted.has(site.entryFile)) {
          rooted.add(site.entryFile);
          roots.push(site.entryFile);
        }
      }
    }
  }
  return entries.sort((a, b) => a.sourceFile.localeCompare(b.sourceFile));
}

/**
 * Worker sites in one module's text (comment lines are ignored): `new Worker(` given a
 * module-relative URL literal, or a constant of this module initialised with one.
 */
export function findWorkerSites(file: string, text: string): WorkerEntry[] {
  const code = text.split("\n").map((line) => {
    const t = line.trimStart();
    return t.startsWith("//") || t.startsWith("*") || t.startsWith("/*") ? "" : line;
  }).join("\n");
  const entry = (specifier: string): WorkerEntry => ({
    sourceFile: file,
    specifier,
    entryFile: fileURLToPath(new URL(specifier, pathToFileURL(file))),
  });
  const constants = new Map<string, string>();
  for (const m of code.matchAll(URL_CONSTANT)) constants.set(m[1], m[2] ?? m[3] ?? m[4] ?? m[5]);
  const found: WorkerEntry[] = [];
  const literalAt = new Set<number>();
  for (const m of code.matchAll(SUPPORTED_SITE)) {
    literalAt.add(m.index);
    found.push(entry(m[1] ?? m[2] ?? m[3] ?? m[4]));
  }
  for (const m of code.matchAll(ANY_SITE)) {
    if (literalAt.has(m.index)) continue;
    const constant = m[1] === undefined ? undefined : constants.get(m[1]);
    if (constant !== undefined) {
      found.push(entry(constant));
      continue;
    }
    const line = code.slice(0, m.index).split("\n").length;
    throw new UnsupportedWorkerSiteError(file, line, code.split("\n")[line - 1]);
  }
  return found;
}

/** Distinct worker entry modules, each with the bundle file name it gets. */
export function workerBundleNames(entries: readonly WorkerEntry[]): Map<string, string> {
  const names = new Map<string, string>();
  const used = new Set<string>();
  for (const { entryFile } of entries) {
    if (names.has(entryFile)) continue;
    const base = entryFile.split("/").pop()!.replace(/\.[cm]?[jt]sx?$/, "");
    let name = `${base}.js`;
    for (let i = 2; used.has(name); i++) name = `${base}_${i}.js`;
    used.add(name);
    names.set(entryFile, name);
  }
  return names;
}

/**
 * Rewrites the worker URL literals in a bundle at `bundleFile` so they point at the worker
 * bundles (`bundleOf(entryFile)` gives each one's absolute path). Throws
 * {@linkcode AmbiguousWorkerUrlError} when one literal names two modules.
 */
export function rewriteWorkerUrls(
  bundleText: string,
  bundleFile: string,
  entries: readonly WorkerEntry[],
  bundleOf: (entryFile: string) => string,
): string {
  const bySpecifier = new Map<string, string>();
  for (const e of entries) {
    const prev = bySpecifier.get(e.specifier);
    if (prev !== undefined && prev !== e.entryFile) {
      throw new AmbiguousWorkerUrlError(e.specifier, [prev, e.entryFile]);
    }
    bySpecifier.set(e.specifier, e.entryFile);
  }
  // Every module-relative URL naming a worker is rewritten, wherever it stands (a constant
  // given to Worker later keeps its literal in the bundle).
  return bundleText.replace(MODULE_URL_RE, (site, s1, s2, s3, s4) => {
    const specifier: string = s1 ?? s2 ?? s3 ?? s4;
    const entryFile = bySpecifier.get(specifier);
    if (entryFile === undefined) return site;
    let rel = relative(dirname(bundleFile), bundleOf(entryFile));
    if (!rel.startsWith(".")) rel = `./${rel}`;
    return site.replace(specifier, rel);
  });
}

/**
 * Module-relative URL literals left in a bundle (after {@linkcode rewriteWorkerUrls}): files
 * the program reads next to its sources, which the bundle does not carry.
 */
export function moduleUrlLiterals(bundleText: string): string[] {
  return [
    ...new Set([...bundleText.matchAll(MODULE_URL_RE)].map((m) => m[1] ?? m[2] ?? m[3] ?? m[4])),
  ];
}
