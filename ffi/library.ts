/**
 * Loads the FFmpeg libraries by soname: the newest installed release line that has a verified
 * layout table (5.1, 6.1, 7.1, 8.1, 9.0) and all six libraries, checks they belong to that line,
 * and selects its struct layout table; any other FFmpeg is refused. Loading is lazy and happens
 * once per thread: each Worker has its own module instance and so its own handles.
 *
 * @module
 */

import { FfmpegLoadError, FfmpegUnsupportedError } from "./errors.ts";
import { checkLayout } from "./_layout_check.ts";
import {
  LAYOUTS,
  type LayoutTable,
  SUPPORTED_AVCODEC_MAJORS,
  supportedReleases,
} from "./layout.ts";
import {
  denoLibraryHost,
  LIBRARY_DIR_ENV,
  type LibraryHost,
  type LibraryName,
  librarySearchPaths,
  packageHint as packageHintFor,
  supportedMajors,
  windowsAvfilterDependencyPaths,
} from "./library_search.ts";
import {
  AVCODEC_SYMBOLS,
  AVFILTER_SYMBOLS,
  AVFORMAT_SYMBOLS,
  AVUTIL_SYMBOLS,
  SWRESAMPLE_SYMBOLS,
  SWSCALE_SYMBOLS,
} from "./symbols.ts";

/** The loaded libraries, their symbols and the layout table of their version. */
export interface FfmpegLibraries {
  readonly avutil: Deno.DynamicLibrary<typeof AVUTIL_SYMBOLS>["symbols"];
  readonly avcodec: Deno.DynamicLibrary<typeof AVCODEC_SYMBOLS>["symbols"];
  readonly avformat: Deno.DynamicLibrary<typeof AVFORMAT_SYMBOLS>["symbols"];
  readonly swscale: Deno.DynamicLibrary<typeof SWSCALE_SYMBOLS>["symbols"];
  readonly swresample: Deno.DynamicLibrary<typeof SWRESAMPLE_SYMBOLS>["symbols"];
  readonly avfilter: Deno.DynamicLibrary<typeof AVFILTER_SYMBOLS>["symbols"];
  readonly layout: LayoutTable;
  readonly versions: FfmpegVersions;
}

/** Runtime versions of the six libraries as "major.minor.micro", e.g. "59.27.100". */
export interface FfmpegVersions {
  avformat: string;
  avcodec: string;
  avutil: string;
  swscale: string;
  swresample: string;
  avfilter: string;
}

export { LIBRARY_DIR_ENV, supportedMajors };

let loaded: FfmpegLibraries | undefined;

/** The FFmpeg libraries of this thread, loaded on first use. Throws {@link FfmpegLoadError}. */
export function ffmpeg(): FfmpegLibraries {
  loaded ??= openFfmpegLibraries(denoLibraryHost());
  return loaded;
}

/** Runtime versions of the loaded libraries, e.g. `{ avcodec: "59.37.100", ... }`. */
export function ffmpegVersions(): FfmpegVersions {
  return { ...ffmpeg().versions };
}

/** The FFmpeg release line ("5.1", "6.1", "7.1", "8.1", "9.0") whose layout table is in use. */
export function ffmpegRelease(): string {
  return ffmpeg().layout.release;
}

/**
 * Paths a library of major version `major` is looked for at, in order (`library_search.ts`;
 * Windows: the configured directory, next to deno.exe, each PATH directory, the bare name).
 */
export function libraryFileNames(
  name: LibraryName,
  major: number,
  host: LibraryHost = denoLibraryHost(),
): string[] {
  return librarySearchPaths(name, major, host);
}

/** The package to install for a library, phrased for `os`. */
export function packageHint(name: LibraryName, os: typeof Deno.build.os = Deno.build.os): string {
  return packageHintFor(name, os);
}

function tryOpen<S extends Deno.ForeignLibraryInterface>(
  name: LibraryName,
  major: number,
  symbols: S,
  tried: string[],
  host: LibraryHost,
): Deno.DynamicLibrary<S> | undefined {
  for (const file of libraryFileNames(name, major, host)) {
    try {
      return Deno.dlopen(file, symbols);
    } catch (err) {
      tried.push(`${file}: ${(err instanceof Error ? err.message : String(err)).trim()}`);
    }
  }
  return undefined;
}

function splitVersion(v: number): string {
  return `${v >>> 16}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/** The six libraries of one release line, opened. */
interface OpenedLine {
  avutil: Deno.DynamicLibrary<typeof AVUTIL_SYMBOLS>;
  avcodec: Deno.DynamicLibrary<typeof AVCODEC_SYMBOLS>;
  avformat: Deno.DynamicLibrary<typeof AVFORMAT_SYMBOLS>;
  swscale: Deno.DynamicLibrary<typeof SWSCALE_SYMBOLS>;
  swresample: Deno.DynamicLibrary<typeof SWRESAMPLE_SYMBOLS>;
  avfilter: Deno.DynamicLibrary<typeof AVFILTER_SYMBOLS>;
}

/**
 * Opens all six libraries of `layout`'s line, or none: returns the first missing library and
 * the files tried for it instead (after closing what was opened).
 */
function openLine(
  layout: LayoutTable,
  avutil: Deno.DynamicLibrary<typeof AVUTIL_SYMBOLS>,
  host: LibraryHost,
): OpenedLine | { missing: LibraryName; tried: string[] } {
  const opened: { close(): void }[] = [];
  let missing: { missing: LibraryName; tried: string[] } | undefined;
  const open = <S extends Deno.ForeignLibraryInterface>(name: LibraryName, symbols: S) => {
    if (missing) return undefined;
    const tried: string[] = [];
    const lib = tryOpen(name, layout.majors[name], symbols, tried, host);
    if (lib) opened.push(lib);
    else missing = { missing: name, tried };
    return lib;
  };
  // Each after the libraries it links against (LIBRARY_LOAD_ORDER, library_search.ts): a DLL
  // opened by full path on Windows finds its dependencies among the modules already loaded.
  const swresample = open("swresample", SWRESAMPLE_SYMBOLS);
  const swscale = open("swscale", SWSCALE_SYMBOLS);
  const avcodec = open("avcodec", AVCODEC_SYMBOLS);
  const avformat = open("avformat", AVFORMAT_SYMBOLS);
  // Windows GPL builds: avfilter links libpostproc too. A build without it (LGPL, FFmpeg 8+)
  // needs none, so a failure here is not an error; a missing one shows at avfilter's open.
  for (const file of missing ? [] : windowsAvfilterDependencyPaths(layout.release, host)) {
    try {
      opened.push(Deno.dlopen(file, {}));
      break;
    } catch (err) {
      if (!(err instanceof Error)) throw err;
    }
  }
  const avfilter = open("avfilter", AVFILTER_SYMBOLS);
  if (avcodec && avformat && swscale && swresample && avfilter) {
    return { avutil, avcodec, avformat, swscale, swresample, avfilter };
  }
  for (const lib of opened) lib.close();
  return missing!;
}

/**
 * Opens the six libraries where `host` says to look (uncached; {@link ffmpeg} caches the
 * running process's). Throws {@link FfmpegLoadError} listing every path tried.
 */
export function openFfmpegLibraries(host: LibraryHost): FfmpegLibraries {
  // The newest release line whose six libraries are all installed; libavutil is tried first
  // (every other library depends on it).
  const tried: string[] = [];
  let line: OpenedLine | undefined;
  let layout: LayoutTable | undefined;
  let partial: { layout: LayoutTable; missing: LibraryName; tried: string[] } | undefined;
  for (const major of SUPPORTED_AVCODEC_MAJORS) {
    const table = LAYOUTS[major];
    const avutil = tryOpen("avutil", table.majors.avutil, AVUTIL_SYMBOLS, tried, host);
    if (!avutil) continue;
    const opened = openLine(table, avutil, host);
    if ("missing" in opened) {
      avutil.close();
      partial ??= { layout: table, ...opened };
      continue;
    }
    line = opened;
    layout = table;
    break;
  }
  if (!line || !layout) {
    if (partial) {
      // A line's libavutil is installed but not the rest of it.
      const { layout: table, missing, tried: files } = partial;
      const other = installedOtherMajors(missing, [table.majors[missing]], host);
      if (other.length > 0) throw unsupported(missing, other, files, host.os, table);
      throw new FfmpegLoadError(
        `lib${missing}`,
        files,
        packageHint(missing, host.os),
        `libavutil ${table.majors.avutil} (FFmpeg ${table.release}) is installed but ` +
          `lib${missing} ${table.majors[missing]} is not`,
      );
    }
    const other = installedOtherMajors("avutil", supportedMajors("avutil"), host);
    if (other.length > 0) throw unsupported("avutil", other, tried, host.os);
    throw new FfmpegLoadError(
      "libavutil",
      tried,
      packageHint("avutil", host.os),
      `no supported FFmpeg (${supportedReleases()}) found`,
    );
  }
  const avcodec = line.avcodec.symbols;
  const avformat = line.avformat.symbols;
  const swscale = line.swscale.symbols;
  const swresample = line.swresample.symbols;
  const avfilter = line.avfilter.symbols;
  const avutil = line.avutil.symbols;
  const raw = {
    avutil: avutil.avutil_version(),
    avcodec: avcodec.avcodec_version(),
    avformat: avformat.avformat_version(),
    swscale: swscale.swscale_version(),
    swresample: swresample.swresample_version(),
    avfilter: avfilter.avfilter_version(),
  };
  for (const name of Object.keys(raw) as LibraryName[]) {
    if (raw[name] >>> 16 !== layout.majors[name]) {
      throw new FfmpegLoadError(
        `lib${name}`,
        libraryFileNames(name, layout.majors[name], host),
        packageHint(name, host.os),
        `reports version ${splitVersion(raw[name])}, expected major ${layout.majors[name]}`,
      );
    }
  }
  // FFmpeg's default log level prints per-stream chatter on stderr; a service wants errors.
  avutil.av_log_set_level(AV_LOG_ERROR);
  const libs: FfmpegLibraries = {
    avutil,
    avcodec,
    avformat,
    swscale,
    swresample,
    avfilter,
    layout,
    versions: {
      avformat: splitVersion(raw.avformat),
      avcodec: splitVersion(raw.avcodec),
      avutil: splitVersion(raw.avutil),
      swscale: splitVersion(raw.swscale),
      swresample: splitVersion(raw.swresample),
      avfilter: splitVersion(raw.avfilter),
    },
  };
  const mismatches = checkLayout(libs);
  if (mismatches.length > 0) {
    throw new FfmpegLoadError(
      "libavcodec",
      libraryFileNames("avcodec", libs.layout.majors.avcodec),
      packageHint("avcodec"),
      `the FFmpeg ${libs.layout.release} layout table does not match the loaded libraries ` +
        `(${mismatches.join("; ")})`,
    );
  }
  return libs;
}

const AV_LOG_ERROR = 16;

/** Sets FFmpeg's global log level (AV_LOG_QUIET -8 … AV_LOG_TRACE 56; default here: 16). */
export function setFfmpegLogLevel(level: number): void {
  ffmpeg().avutil.av_log_set_level(level);
}

const encoder = new TextEncoder();

/** A NUL-terminated UTF-8 copy of `s` for passing to C. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(encoder.encode(s).length + 1);
  encoder.encodeInto(s, bytes);
  return bytes;
}

/** Majors of a library's name tried when looking for an unsupported FFmpeg. */
const PLAUSIBLE_MAJORS = Array.from({ length: 30 }, (_, i) => i + 1).concat(
  Array.from({ length: 31 }, (_, i) => i + 50),
);

/** Installed versions of `name` whose major is not in `except`, e.g. ["62.3.100"]. */
function installedOtherMajors(
  name: LibraryName,
  except: number[],
  host: LibraryHost,
): { file: string; version: string }[] {
  const found: { file: string; version: string }[] = [];
  const versionSymbol = `${name}_version`;
  for (const major of PLAUSIBLE_MAJORS) {
    if (except.includes(major)) continue;
    for (const file of libraryFileNames(name, major, host)) {
      let lib: Deno.DynamicLibrary<Record<string, Deno.ForeignFunction>>;
      try {
        lib = Deno.dlopen(file, { [versionSymbol]: { parameters: [], result: "u32" } });
      } catch (err) {
        if (!(err instanceof Error)) throw err;
        continue; // not installed (the usual case) or not this library
      }
      try {
        const v = lib.symbols[versionSymbol]() as number;
        found.push({ file, version: splitVersion(v) });
      } finally {
        lib.close();
      }
      break;
    }
  }
  return found;
}

/** The one-line refusal of an FFmpeg whose `name` major has no verified table. */
function unsupported(
  name: LibraryName,
  found: { file: string; version: string }[],
  tried: string[],
  os: typeof Deno.build.os,
  line?: LayoutTable,
): FfmpegUnsupportedError {
  const list = found.map((f) => `lib${name} ${f.version} (${f.file})`).join(", ");
  const supported = supportedMajors(name).map((m) => `${m}`).join(", ");
  const need = line
    ? `FFmpeg ${line.release} (libavutil ${line.majors.avutil}) needs lib${name} ` +
      `${line.majors[name]}; `
    : "";
  return new FfmpegUnsupportedError(
    `lib${name}`,
    found.map((f) => f.version),
    tried,
    packageHint(name, os),
    `unsupported FFmpeg: found ${list}; ${need}supported: FFmpeg ${supportedReleases()} ` +
      `(lib${name} ${supported})`,
  );
}
