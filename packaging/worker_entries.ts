/**
 * Finds the Web Worker entry modules of the program, so that both layouts ship them:
 * `deno compile` needs them passed with `--include`, and `deno bundle` leaves
 * `new Worker(new URL("./w.ts", import.meta.url))` untouched, so the runtime+bundle layout
 * bundles each worker on its own and rewrites those URLs (see {@linkcode rewriteWorkerUrls}).
 *
 * Only the statically analysable shapes `new Worker(new URL("<literal>", import.meta.url)` and
 * `new Worker(import.meta.resolve("<literal>")` are supported; any other `new Worker(` in the
 * sources fails the build instead of shipping a package whose channels cannot start.
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

const SUPPORTED_SITE =
  /new\s+Worker\(\s*(?:new\s+URL\(\s*(["'])([^"'`]+)\1\s*,\s*import\.meta\.url\s*\)|import\.meta\.resolve\(\s*(["'])([^"'`]+)\3\s*\))/g;
const ANY_SITE = /new\s+Worker\s*\(/g;

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

/** Worker sites in one module's text (comment lines are ignored). */
export function findWorkerSites(file: string, text: string): WorkerEntry[] {
  const code = text.split("\n").map((line) => {
    const t = line.trimStart();
    return t.startsWith("//") || t.startsWith("*") || t.startsWith("/*") ? "" : line;
  }).join("\n");
  const found: WorkerEntry[] = [];
  const supportedAt = new Set<number>();
  for (const m of code.matchAll(SUPPORTED_SITE)) {
    const specifier = m[2] ?? m[4];
    supportedAt.add(m.index);
    found.push({
      sourceFile: file,
      specifier,
      entryFile: fileURLToPath(new URL(specifier, pathToFileURL(file))),
    });
  }
  for (const m of code.matchAll(ANY_SITE)) {
    if (!supportedAt.has(m.index)) {
      const line = code.slice(0, m.index).split("\n").length;
      throw new UnsupportedWorkerSiteError(file, line, code.split("\n")[line - 1]);
    }
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
  return bundleText.replace(SUPPORTED_SITE, (site, _q1, s1, _q2, s2) => {
    const specifier: string = s1 ?? s2;
    const entryFile = bySpecifier.get(specifier);
    if (entryFile === undefined) return site;
    let rel = relative(dirname(bundleFile), bundleOf(entryFile));
    if (!rel.startsWith(".")) rel = `./${rel}`;
    return site.replace(specifier, rel);
  });
}
