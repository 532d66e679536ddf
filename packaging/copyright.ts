/**
 * The package's `/usr/share/doc/retrovue-playout/copyright` (machine-readable format 1.0):
 * the project, the shipped Deno runtime, and every npm package in the program's module graph,
 * each with the license text its npm package ships.
 *
 * @module
 */

import { join } from "node:path";
import type { NpmPackageRef } from "./program_graph.ts";

/** A shipped npm package has no unpacked copy to read its license from. */
export class MissingNpmPackageError extends Error {
  override name = "MissingNpmPackageError";
  constructor(readonly value: string, readonly dir: string | undefined) {
    super(`npm package ${value} has no unpacked copy${dir ? ` at ${dir}` : ""}: run deno install`);
  }
}

/** Inputs of {@linkcode renderCopyright}. */
export interface CopyrightInputs {
  /** npm packages shipped (bundled or embedded); type-only `@types/*` ones are left out. */
  packages: readonly NpmPackageRef[];
  /** Path where the shipped program lives in the package, for the Files: fields. */
  programFiles: string;
  /** The Deno runtime's path in the package, and its LICENSE text (runtime+bundle layout). */
  runtime?: { files: string; licenseText: string };
}

/** The copyright file's text. */
export async function renderCopyright(inputs: CopyrightInputs): Promise<string> {
  const parts = [
    paragraph({
      "Format": "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
      "Upstream-Name": "retrovue-playout",
      "Comment": "The engine is TypeScript on Deno; its npm dependencies are built into " +
        `${inputs.programFiles}. FFmpeg is used from the system's shared libraries.`,
    }),
    paragraph({
      "Files": "*",
      "Copyright": "the RetroVue developers",
      "License": "retrovue-playout",
    }),
  ];
  if (inputs.runtime) {
    parts.push(paragraph({
      "Files": inputs.runtime.files,
      "Copyright": "the Deno authors",
      "License": `MIT\n${indent(inputs.runtime.licenseText)}`,
    }));
  }
  for (const pkg of inputs.packages) {
    if (pkg.name.startsWith("@types/")) continue;
    const dir = pkg.localPath;
    const manifest = dir === undefined ? null : await readTextOrNull(join(dir, "package.json"));
    if (manifest === null) throw new MissingNpmPackageError(`${pkg.name}@${pkg.version}`, dir);
    const spdx = licenseOf(JSON.parse(manifest));
    // Debian ships the Apache 2.0 text; policy wants a reference instead of a copy.
    const text = spdx === "Apache-2.0"
      ? "On Debian systems, the full text of the Apache License 2.0 is in\n" +
        "/usr/share/common-licenses/Apache-2.0."
      : await licenseText(dir!);
    parts.push(paragraph({
      "Files": inputs.programFiles,
      "Copyright": `the authors of the npm package ${pkg.name} ${pkg.version}`,
      "License": text ? `${spdx}\n${indent(text)}` : spdx,
      "Comment": text ? undefined : `npm package ${pkg.name} ${pkg.version} ships no license file`,
    }));
  }
  parts.push(paragraph({
    "License": "retrovue-playout\n" +
      indent(
        "The license of retrovue-playout itself has not been chosen yet; until it is, " +
          "all rights are reserved by the RetroVue developers.",
      ),
  }));
  return parts.join("\n");
}

function licenseOf(manifest: { license?: unknown; licenses?: unknown }): string {
  if (typeof manifest.license === "string") return manifest.license;
  if (Array.isArray(manifest.licenses)) {
    return manifest.licenses.map((l) => (l as { type?: string }).type ?? "unknown").join(" or ");
  }
  return "unknown";
}

async function licenseText(dir: string): Promise<string | null> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && /^licen[cs]e(\.(md|txt))?$/i.test(e.name)) names.push(e.name);
  }
  names.sort();
  return names.length ? await Deno.readTextFile(join(dir, names[0])) : null;
}

async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

/** A deb822 paragraph; undefined fields are left out. */
function paragraph(fields: Record<string, string | undefined>): string {
  return Object.entries(fields)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}: ${v}\n`)
    .join("");
}

/** Continuation lines of a deb822 field: one leading space, "." for blank lines. */
function indent(text: string): string {
  return text.trimEnd().split("\n").map((l) => (l.trim() === "" ? " ." : ` ${l.trimEnd()}`))
    .join("\n");
}
