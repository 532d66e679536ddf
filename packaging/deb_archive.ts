/**
 * Turning a staged file tree into a .deb with `dpkg-deb` (no network, no debhelper): the
 * control file, md5sums, Installed-Size, and the archive itself.
 *
 * @module
 */

import { join, relative } from "node:path";
import { createHash } from "node:crypto";
import { runCommand } from "./command.ts";

/** Fields of DEBIAN/control. */
export interface DebControl {
  package: string;
  version: string;
  architecture: string;
  maintainer: string;
  installedSizeKiB: number;
  depends: readonly string[];
  section: string;
  priority: string;
  /** First line: the synopsis; the rest: the extended description (paragraphs). */
  description: string;
}

/** The DEBIAN/control text. */
export function renderControl(c: DebControl): string {
  const [synopsis, ...rest] = c.description.trim().split("\n");
  const extended = rest.join("\n").trim().split("\n")
    .map((l) => (l.trim() === "" ? " ." : ` ${l.trim()}`)).join("\n");
  return [
    `Package: ${c.package}`,
    `Version: ${c.version}`,
    `Architecture: ${c.architecture}`,
    `Maintainer: ${c.maintainer}`,
    `Installed-Size: ${c.installedSizeKiB}`,
    `Depends: ${c.depends.join(", ")}`,
    `Section: ${c.section}`,
    `Priority: ${c.priority}`,
    `Description: ${synopsis}`,
    extended,
  ].join("\n") + "\n";
}

/** Installed size as dpkg-gencontrol counts it: KiB per file (rounded up), 1 per dir/link. */
export async function installedSizeKiB(root: string): Promise<number> {
  let total = 0;
  for await (const { info } of walk(root, ["DEBIAN"])) {
    total += info.isFile ? Math.ceil(info.size / 1024) : 1;
  }
  return total;
}

/** DEBIAN/md5sums text for every regular file outside DEBIAN/ (conffiles included). */
export async function renderMd5sums(root: string): Promise<string> {
  const lines: string[] = [];
  for await (const { path, info } of walk(root, ["DEBIAN"])) {
    if (!info.isFile) continue;
    const hash = createHash("md5");
    using file = await Deno.open(path);
    for await (const chunk of file.readable) hash.update(chunk);
    lines.push(`${hash.digest("hex")}  ${relative(root, path)}`);
  }
  return lines.sort((a, b) => a.slice(34).localeCompare(b.slice(34))).join("\n") + "\n";
}

/** How dpkg-deb compresses the archive members (lintian accepts only xz and gzip). */
export interface DebCompression {
  type: "xz" | "gzip";
  /** 0..9; xz level 1 packs ~100 MB in about 3 s (level 6: ~18 s for 10% less). */
  level: number;
}

/** The default: xz, level 1. */
export const DEFAULT_DEB_COMPRESSION: Readonly<DebCompression> = Object.freeze({
  type: "xz",
  level: 1,
});

/** Runs `dpkg-deb --build` on a tree whose DEBIAN/ is complete; files end up owned by root. */
export async function buildDebArchive(
  root: string,
  output: string,
  compression: DebCompression = DEFAULT_DEB_COMPRESSION,
): Promise<void> {
  await runCommand([
    "dpkg-deb",
    "--root-owner-group",
    `-Z${compression.type}`,
    `-z${compression.level}`,
    "--build",
    root,
    output,
  ], { timeoutMs: 600_000 });
}

async function* walk(
  dir: string,
  skipTop: readonly string[] = [],
): AsyncGenerator<{ path: string; info: Deno.FileInfo }> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (!skipTop.includes(e.name)) names.push(e.name);
  names.sort();
  for (const name of names) {
    const path = join(dir, name);
    const info = await Deno.lstat(path);
    yield { path, info };
    if (info.isDirectory) yield* walk(path);
  }
}
