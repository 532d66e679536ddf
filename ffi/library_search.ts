/**
 * Where the FFmpeg libraries are looked for, per OS, as data: the file name of each library
 * major ({@link libraryFileName}), the ordered list of paths the loader tries
 * ({@link librarySearchPaths}) and what to tell an operator who has none
 * ({@link packageHint}). Pure functions of an injected {@link LibraryHost}, so the Windows
 * search is testable on Linux. The supported majors come from the layout tables
 * (`layout.ts`), never from a second list.
 *
 * Windows (FFmpeg's shared builds name their DLLs `avformat-61.dll`, `avutil-59.dll`, …): the
 * directory in `RETROVUE_FFMPEG_LIB_DIR`, then the directory of the executable (`deno.exe`),
 * then every `PATH` directory in order, then the bare name (the Windows loader's own search).
 * Elsewhere: `RETROVUE_FFMPEG_LIB_DIR`, then the soname for the system's search path.
 *
 * @module
 */

import {
  LAYOUTS,
  type LayoutTable,
  SUPPORTED_AVCODEC_MAJORS,
  supportedReleases,
} from "./layout.ts";

/** One of the six FFmpeg libraries the engine loads. */
export type LibraryName = keyof LayoutTable["majors"];

/**
 * The order the libraries are opened in: each after the ones it links against. On Windows a
 * DLL opened by full path finds its dependencies among the modules already loaded, so a
 * directory that is not on `PATH` still works.
 */
export const LIBRARY_LOAD_ORDER: readonly LibraryName[] = Object.freeze([
  "avutil",
  "swresample",
  "swscale",
  "avcodec",
  "avformat",
  "avfilter",
]);

/** Optional directory that is tried before any other place. */
export const LIBRARY_DIR_ENV = "RETROVUE_FFMPEG_LIB_DIR";

/** What the search depends on; {@link denoLibraryHost} is the running process. */
export interface LibraryHost {
  /** `Deno.build.os`. */
  os: typeof Deno.build.os;
  /** Reads an environment variable. */
  env(name: string): string | undefined;
  /** Path of the running executable (`Deno.execPath()`). */
  execPath: string;
}

/** The running process as a {@link LibraryHost}. */
export function denoLibraryHost(): LibraryHost {
  return {
    os: Deno.build.os,
    env: (name) => Deno.env.get(name),
    // Only the Windows search uses it; reading it needs --allow-read, which the engine has.
    get execPath() {
      return Deno.execPath();
    },
  };
}

/** File name of library `name` of major `major` on `os`. */
export function libraryFileName(
  name: LibraryName,
  major: number,
  os: typeof Deno.build.os,
): string {
  if (os === "windows") return `${name}-${major}.dll`;
  if (os === "darwin") return `lib${name}.${major}.dylib`;
  return `lib${name}.so.${major}`;
}

/** Every path the loader tries for `name` of `major`, in order, without duplicates. */
export function librarySearchPaths(name: LibraryName, major: number, host: LibraryHost): string[] {
  return searchPaths(libraryFileName(name, major, host.os), host);
}

/**
 * Windows: the DLL that libavfilter of a release line links against besides the six: the GPL
 * shared builds of FFmpeg 5.1–7.1 ship `postproc-NN.dll` (FFmpeg 8 removed libpostproc).
 * Opened first when present, so that `avfilter-N.dll` opened by full path finds it.
 */
export const WINDOWS_AVFILTER_DEPENDENCY: Readonly<Record<string, string>> = Object.freeze({
  "5.1": "postproc-56.dll",
  "6.1": "postproc-57.dll",
  "7.1": "postproc-58.dll",
});

/** Where {@link WINDOWS_AVFILTER_DEPENDENCY} of `release` is looked for ([] if it has none). */
export function windowsAvfilterDependencyPaths(release: string, host: LibraryHost): string[] {
  const file = WINDOWS_AVFILTER_DEPENDENCY[release];
  return host.os === "windows" && file ? searchPaths(file, host) : [];
}

function searchPaths(file: string, host: LibraryHost): string[] {
  const configured = host.env(LIBRARY_DIR_ENV) || undefined;
  if (host.os !== "windows") {
    return configured ? [`${configured.replace(/\/+$/, "")}/${file}`, file] : [file];
  }
  const dirs = [
    ...(configured ? [configured] : []),
    windowsDirname(host.execPath),
    ...(host.env("PATH") ?? host.env("Path") ?? "").split(";"),
  ];
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of dirs) {
    const dir = raw.trim().replace(/^"(.*)"$/, "$1").replace(/[\\/]+$/, "");
    if (dir === "" || seen.has(dir.toLowerCase())) continue;
    seen.add(dir.toLowerCase());
    out.push(`${dir}\\${file}`);
  }
  out.push(file);
  return out;
}

function windowsDirname(path: string): string {
  const i = Math.max(path.lastIndexOf("\\"), path.lastIndexOf("/"));
  return i < 0 ? "" : path.slice(0, i);
}

/** The majors of `name` that some verified table uses, newest first. */
export function supportedMajors(name: LibraryName): number[] {
  return [...new Set(SUPPORTED_AVCODEC_MAJORS.map((m) => LAYOUTS[m].majors[name]))];
}

/** Where FFmpeg's shared builds for Windows come from (for hints and the box's README). */
export const WINDOWS_FFMPEG_SOURCES =
  'the "shared" builds from https://www.gyan.dev/ffmpeg/builds/ (ffmpeg-release-full-shared) ' +
  "or https://github.com/BtbN/FFmpeg-Builds/releases (ffmpeg-n*-win64-gpl-shared-*)";

/** What to install to get library `name`, phrased for `os`. */
export function packageHint(name: LibraryName, os: typeof Deno.build.os): string {
  if (os === "windows") {
    return `FFmpeg ${supportedReleases()} as a shared build (${
      supportedMajors(name).map((m) => libraryFileName(name, m, os)).join(" or ")
    }) in %${LIBRARY_DIR_ENV}%, next to deno.exe or on PATH; get ${WINDOWS_FFMPEG_SOURCES}`;
  }
  if (os === "darwin") return "ffmpeg (Homebrew: brew install ffmpeg)";
  return supportedMajors(name).map((m) => `lib${name}${m}`).join(" or ") +
    " (Debian 12: apt-get install " + `lib${name}${LAYOUTS[59].majors[name]})`;
}
