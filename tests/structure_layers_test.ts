/**
 * The layer rule, checked in one place: every module of `media/`, `ffi/` and `src/` imports only
 * from its own layer or the layers under it (docs/architecture.md, "Layers"). The test reads the
 * import statements of the real source tree; an import that points up the stack fails it, unless
 * it is on {@link KNOWN_UPWARD} — the short list of edges left for the next restructuring step,
 * each with the reason it is still there. An entry that no longer occurs also fails the test, so
 * the list only ever shrinks.
 */

import { assert, assertEquals } from "./assert.ts";

const REPO = new URL("../", import.meta.url);

/** Layers from the bottom up; a module may import its own layer and any lower one. */
const LAYERS: readonly { name: string; matches: (path: string) => boolean }[] = [
  { name: "media", matches: (p) => p.startsWith("media/") },
  { name: "ffi", matches: (p) => p.startsWith("ffi/") },
  { name: "log", matches: (p) => p.startsWith("src/log/") },
  { name: "endpoints", matches: (p) => p.startsWith("src/endpoints/") },
  { name: "config", matches: (p) => p.startsWith("src/config/") },
  { name: "engine", matches: (p) => p.startsWith("src/engine/") },
  { name: "outputs", matches: (p) => p.startsWith("src/outputs/") },
  { name: "control", matches: (p) => p.startsWith("src/control/") },
  { name: "evidence", matches: (p) => p.startsWith("src/evidence/") },
  { name: "observability", matches: (p) => p.startsWith("src/observability/") },
  { name: "main", matches: (p) => p.startsWith("src/cli/") || /^src\/[^/]+\.ts$/.test(p) },
];

/**
 * Upward imports still in the tree, `from -> to`, each with the reason it is still there. Empty:
 * the engine owns the interface of a channel's outputs (`src/engine/channel_outputs.ts`) that
 * `src/outputs/channel_output_set.ts` implements and `main` wires; the TS encoder runs in the
 * channel's worker and lives in the engine; the TS reader is media vocabulary.
 */
const KNOWN_UPWARD: ReadonlyMap<string, string> = new Map<string, string>();

function layerOf(path: string): number | undefined {
  const i = LAYERS.findIndex((l) => l.matches(path));
  return i < 0 ? undefined : i;
}

/** Relative module specifiers of a source text: static imports/exports and dynamic imports. */
export function importSpecifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/gms,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
    /new URL\(\s*["']([^"']+\.ts)["']\s*,\s*import\.meta\.url\s*\)/g,
  ];
  for (const re of patterns) {
    for (const m of source.matchAll(re)) found.push(m[1]);
  }
  return found.filter((s) => s.startsWith("."));
}

function normalize(parts: string[]): string {
  const out: string[] = [];
  for (const p of parts) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return out.join("/");
}

function resolveFrom(file: string, spec: string): string {
  const dir = file.split("/").slice(0, -1);
  return normalize([...dir, ...spec.split("/")]);
}

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(new URL(dir + "/", REPO))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* sourceFiles(path);
    else if (entry.isFile && entry.name.endsWith(".ts")) yield path;
  }
}

/** Every `from -> to` import edge between the layered folders. */
async function importEdges(): Promise<{ from: string; to: string }[]> {
  const edges: { from: string; to: string }[] = [];
  for (const dir of ["media", "ffi", "src"]) {
    for await (const file of sourceFiles(dir)) {
      const text = await Deno.readTextFile(new URL(file, REPO));
      for (const spec of importSpecifiers(text)) {
        edges.push({ from: file, to: resolveFrom(file, spec) });
      }
    }
  }
  return edges;
}

Deno.test("the import parser sees static, type, re-export, dynamic and worker imports", () => {
  const text = [
    'import { a } from "./a.ts";',
    "import type {",
    "  B,",
    '} from "../b.ts";',
    'export { c } from "./c.ts";',
    'const d = await import("./d.ts");',
    'const w = new URL("./w.ts", import.meta.url);',
    'import { z } from "zod";',
  ].join("\n");
  assertEquals(importSpecifiers(text).sort(), ["../b.ts", "./a.ts", "./c.ts", "./d.ts", "./w.ts"]);
});

/** The edges of `edges` that point up the layer stack, as `from -> to`. */
function upwardEdges(edges: { from: string; to: string }[]): string[] {
  const upward: string[] = [];
  for (const { from, to } of edges) {
    const a = layerOf(from);
    const b = layerOf(to);
    if (a === undefined) throw new Error(`${from} is in no layer; add its folder to LAYERS`);
    if (b === undefined) continue; // deno.json and other files outside the layered folders
    if (b > a) upward.push(`${from} -> ${to}`);
  }
  return upward;
}

Deno.test("an import up the stack is found; imports down or sideways are not", () => {
  const edges = [
    { from: "src/engine/channel_manager.ts", to: "src/outputs/ts_fanout.ts" },
    { from: "ffi/muxer.ts", to: "src/engine/plan.ts" },
    { from: "src/outputs/channel_output_set.ts", to: "src/engine/channel_outputs.ts" },
    { from: "src/engine/channel_runner.ts", to: "src/engine/program_ts_encoder.ts" },
    { from: "src/playout.ts", to: "src/outputs/channel_output_set.ts" },
  ];
  assertEquals(upwardEdges(edges), [
    "src/engine/channel_manager.ts -> src/outputs/ts_fanout.ts",
    "ffi/muxer.ts -> src/engine/plan.ts",
  ]);
});

Deno.test("every module imports only its own layer or lower ones", async () => {
  const edges = await importEdges();
  // The walk really read the tree: ffi stands on media, the engine on ffi.
  assert(edges.some((e) => e.from.startsWith("ffi/") && e.to.startsWith("media/")));
  assert(edges.some((e) => e.from.startsWith("src/engine/") && e.to.startsWith("ffi/")));
  const upward = upwardEdges(edges);
  const unexpected = upward.filter((e) => !KNOWN_UPWARD.has(e));
  assertEquals(unexpected, [], "imports that point up the layer stack");
  const stale = [...KNOWN_UPWARD.keys()].filter((e) => !upward.includes(e));
  assertEquals(stale, [], "KNOWN_UPWARD entries that no longer occur: remove them");
});

Deno.test("ffi/ imports nothing from src/, media/ nothing outside media/", async () => {
  const edges = await importEdges();
  const ffiIntoSrc = edges.filter((e) => e.from.startsWith("ffi/") && !/^(ffi|media)\//.test(e.to));
  assertEquals(ffiIntoSrc, []);
  const mediaOut = edges.filter((e) => e.from.startsWith("media/") && !e.to.startsWith("media/"));
  assertEquals(mediaOut, []);
});

Deno.test("media/ uses no package: it is plain vocabulary", async () => {
  for await (const file of sourceFiles("media")) {
    const text = await Deno.readTextFile(new URL(file, REPO));
    const bare = [...text.matchAll(/\sfrom\s*["']([^"'.][^"']*)["']/g)].map((m) => m[1]);
    assertEquals(bare, [], `${file} imports a package`);
  }
});
