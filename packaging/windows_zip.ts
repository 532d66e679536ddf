/**
 * `deno task package:windows`: builds `build/retrovue-playout_<version>_windows-x64.zip` for
 * Windows development boxes:
 *
 * ```
 * retrovue-playout_<version>_windows-x64/
 *   retrovue-playout.cmd         launcher (launcher.ts)
 *   README.txt                   for the box (packaging/windows/README.txt)
 *   config.example.toml          Windows paths (packaging/windows/config.example.toml)
 *   build-info.json
 *   lib/deno.exe                 Deno for Windows, npm package @deno/win32-x64 (pinned)
 *   lib/retrovue_playout.js      the program, bundled (bundle_layout.ts)
 *   lib/workers/<name>.js        worker modules
 * ```
 *
 * Deno for Windows is the npm package `@deno/win32-x64` at the version install.sh pins for
 * Linux, fetched with `npm pack` (the npm registry is the only download) into
 * `build/cache/`, where later builds find it. The zip is written with `npm:fflate`.
 *
 * Usage: `deno task package:windows [--out-dir build]`
 *
 * @module
 */

import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type Zippable, zipSync } from "fflate";
import { bundleProgram } from "./bundle_layout.ts";
import { runCommand } from "./command.ts";
import { renderWindowsLauncher } from "./launcher.ts";
import { COMMAND_NAME, PACKAGE_NAME, readPackageVersion, REPO_ROOT } from "./package_metadata.ts";
import { RUNTIME_PERMISSION_FLAGS } from "./permissions.ts";
import { findWorkerEntries } from "./worker_entries.ts";
import { releaseDate } from "./package.ts";
import {
  LIBRARY_LOAD_ORDER,
  libraryFileName,
  type LibraryName,
  supportedMajors,
  WINDOWS_FFMPEG_SOURCES,
} from "../ffi/library_search.ts";
import { supportedReleases } from "../ffi/layout.ts";

/** The npm package with Deno for Windows x64. */
export const WINDOWS_DENO_PACKAGE = "@deno/win32-x64";
/** Name of the launcher in the zip. */
export const WINDOWS_LAUNCHER = `${PACKAGE_NAME}.cmd`;

/** The zip's file name for `version`. */
export function windowsZipName(version: string): string {
  return `${PACKAGE_NAME}_${version}_windows-x64.zip`;
}

/** install.sh has no `DENO_VERSION="x.y.z"` line. */
export class DenoPinError extends Error {
  override name = "DenoPinError";
  constructor(readonly value: string) {
    super(`no DENO_VERSION="x.y.z" pin in ${value}`);
  }
}

/** The Deno version install.sh pins (the Linux runtime); the Windows one is the same. */
export async function pinnedDenoVersion(
  installSh = join(REPO_ROOT, "install.sh"),
): Promise<string> {
  const m = /^DENO_VERSION="(\d+\.\d+\.\d+)"$/m.exec(await Deno.readTextFile(installSh));
  if (!m) throw new DenoPinError(installSh);
  return m[1];
}

/** Options of {@linkcode buildWindowsZip}. */
export interface WindowsZipOptions {
  /** The program's entry module (default src/main.ts). */
  entry?: string;
  /** Output directory (default build/). */
  outDir?: string;
  /** Progress lines (default: console.log). */
  say?: (line: string) => void;
}

/** What was built. */
export interface BuiltWindowsZip {
  zip: string;
  version: string;
  denoVersion: string;
  /** Paths inside the zip, in order. */
  entries: string[];
}

/**
 * `deno.exe` of {@link WINDOWS_DENO_PACKAGE}@`version`, from `cacheDir` or fetched there
 * with `npm pack`. Returns its path.
 */
export async function windowsDenoExe(version: string, cacheDir: string): Promise<string> {
  const dir = join(cacheDir, `deno-win32-x64-${version}`);
  const exe = join(dir, "package", "deno.exe");
  if (await isFile(exe)) return exe;
  await Deno.mkdir(dir, { recursive: true });
  const spec = `${WINDOWS_DENO_PACKAGE}@${version}`;
  const { stdout } = await runCommand(["npm", "pack", "--silent", spec], {
    cwd: dir,
    timeoutMs: 300_000,
  });
  const tarball = join(dir, stdout.trim().split("\n").pop()!);
  await runCommand(["tar", "-xzf", tarball, "-C", dir, "package/deno.exe"]);
  await Deno.remove(tarball);
  return exe;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** The DLL names the loader looks for, one line per library (for the README). */
export function windowsDllList(): string {
  return LIBRARY_LOAD_ORDER.map((name: LibraryName) =>
    "  " + supportedMajors(name).map((m) => libraryFileName(name, m, "windows")).join(" or ")
  ).join("\n");
}

/** Fills the README template's `{{...}}` fields; CRLF line ends. */
export function renderWindowsReadme(
  template: string,
  fields: { version: string; denoVersion: string },
): string {
  const values: Record<string, string> = {
    VERSION: fields.version,
    DENO_VERSION: fields.denoVersion,
    FFMPEG_RELEASES: supportedReleases(),
    FFMPEG_SOURCES: WINDOWS_FFMPEG_SOURCES,
    DLL_NAMES: windowsDllList(),
  };
  const text = template.replace(/\{\{([A-Z_]+)\}\}/g, (site, key: string) => {
    if (!(key in values)) throw new Error(`unknown README field ${site}`);
    return values[key];
  });
  return text.replace(/\r?\n/g, "\r\n");
}

/** Builds the zip. */
export async function buildWindowsZip(opts: WindowsZipOptions = {}): Promise<BuiltWindowsZip> {
  const say = opts.say ?? ((line: string) => console.log(line));
  const version = await readPackageVersion();
  const denoVersion = await pinnedDenoVersion();
  if (denoVersion !== Deno.version.deno) {
    say(
      `package:windows: WARNING: bundling with Deno ${Deno.version.deno}, shipping ` +
        `${denoVersion} (install.sh's pin)`,
    );
  }
  const entry = resolve(REPO_ROOT, opts.entry ?? "src/main.ts");
  const outDir = resolve(REPO_ROOT, opts.outDir ?? "build");
  const stage = join(outDir, "stage-windows");
  await Deno.remove(stage, { recursive: true }).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  const lib = join(stage, "lib");

  say(`package:windows: bundling ${entry}`);
  const bundled = await bundleProgram(entry, lib);
  for (const stray of bundled.strayModuleUrls) {
    say(`package:windows: WARNING: the bundle refers to a file next to its source: ${stray}`);
  }
  say(`package:windows: Deno ${denoVersion} for Windows (${WINDOWS_DENO_PACKAGE})`);
  const exe = await windowsDenoExe(denoVersion, join(outDir, "cache"));

  const root = `${PACKAGE_NAME}_${version}_windows-x64`;
  const files: [string, Uint8Array][] = [];
  const text = (s: string) => new TextEncoder().encode(s);
  const templates = join(REPO_ROOT, "packaging", "windows");
  files.push([
    WINDOWS_LAUNCHER,
    text(renderWindowsLauncher({
      runtime: "lib\\deno.exe",
      bundle: `lib\\${COMMAND_NAME}.js`,
      ffmpegDir: "ffmpeg\\bin",
      permissionFlags: RUNTIME_PERMISSION_FLAGS,
    })),
  ]);
  files.push([
    "README.txt",
    text(renderWindowsReadme(await Deno.readTextFile(join(templates, "README.txt")), {
      version,
      denoVersion,
    })),
  ]);
  files.push([
    "config.example.toml",
    text(
      (await Deno.readTextFile(join(templates, "config.example.toml"))).replace(/\r?\n/g, "\r\n"),
    ),
  ]);
  const workerEntries = [...new Set((await findWorkerEntries(entry)).map((w) => w.entryFile))];
  files.push([
    "build-info.json",
    text(
      JSON.stringify(
        {
          version,
          platform: "windows-x64",
          layout: "runtime+bundle",
          deno: denoVersion,
          deno_package: `${WINDOWS_DENO_PACKAGE}@${denoVersion}`,
          workers: workerEntries.length,
          ffmpeg_releases: supportedReleases().split(", "),
        },
        null,
        2,
      ) + "\n",
    ),
  ]);
  files.push(["lib/deno.exe", await Deno.readFile(exe)]);
  files.push([`lib/${COMMAND_NAME}.js`, await Deno.readFile(bundled.bundle)]);
  for (const w of bundled.workers) {
    files.push([`lib/workers/${w.split("/").pop()}`, await Deno.readFile(w)]);
  }

  const tree: Zippable = {};
  const mtime = await releaseDate();
  for (const [path, data] of files) tree[`${root}/${path}`] = [data, { mtime }];
  const zip = join(outDir, windowsZipName(version));
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeFile(zip, zipSync(tree, { level: 6 }));
  await Deno.remove(stage, { recursive: true });
  say(`package:windows: ${zip}`);
  return { zip, version, denoVersion, entries: files.map(([p]) => `${root}/${p}`) };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { "out-dir": { type: "string" }, entry: { type: "string" } },
  });
  const built = await buildWindowsZip({ outDir: values["out-dir"], entry: values.entry });
  console.log(`built ${built.zip} (${built.entries.length} files, Deno ${built.denoVersion})`);
}
