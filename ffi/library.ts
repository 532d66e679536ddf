/**
 * Loads the FFmpeg libraries by soname for an installed, supported release line (5.1, 6.x or
 * 7.x), checks that all five libraries belong to the same line, and selects the struct layout
 * table for it. Loading is lazy and happens once per thread: each Worker has its own module
 * instance and so its own handles.
 *
 * @module
 */

import { FfmpegLoadError } from "./errors.ts";
import { LAYOUTS, type LayoutTable, SUPPORTED_AVCODEC_MAJORS } from "./layout.ts";
import {
  AVCODEC_SYMBOLS,
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
  readonly layout: LayoutTable;
  readonly versions: FfmpegVersions;
}

/** Runtime versions of the five libraries as "major.minor.micro", e.g. "59.27.100". */
export interface FfmpegVersions {
  avformat: string;
  avcodec: string;
  avutil: string;
  swscale: string;
  swresample: string;
}

type LibraryName = keyof LayoutTable["majors"];

/**
 * Environment variable that lets the loader accept a release line whose layout table was not
 * verified against that release's headers (FFmpeg 6.x). Off by default.
 */
export const ALLOW_UNVERIFIED_ENV = "RETROVUE_FFMPEG_ALLOW_UNVERIFIED_LAYOUT";

/** Optional directory that is tried before the system's library search path. */
export const LIBRARY_DIR_ENV = "RETROVUE_FFMPEG_LIB_DIR";

let loaded: FfmpegLibraries | undefined;

/** The FFmpeg libraries of this thread, loaded on first use. Throws {@link FfmpegLoadError}. */
export function ffmpeg(): FfmpegLibraries {
  loaded ??= load();
  return loaded;
}

/** Runtime versions of the loaded libraries, e.g. `{ avcodec: "59.37.100", ... }`. */
export function ffmpegVersions(): FfmpegVersions {
  return { ...ffmpeg().versions };
}

/** The FFmpeg release line ("5.1", "6.1", "7.1") whose layout table is in use. */
export function ffmpegRelease(): string {
  return ffmpeg().layout.release;
}

/** File names a library of major version `major` has on this OS. */
export function libraryFileNames(name: LibraryName, major: number): string[] {
  const base = Deno.build.os === "windows"
    ? `${name}-${major}.dll`
    : Deno.build.os === "darwin"
    ? `lib${name}.${major}.dylib`
    : `lib${name}.so.${major}`;
  const dir = Deno.env.get(LIBRARY_DIR_ENV);
  const sep = Deno.build.os === "windows" ? "\\" : "/";
  return dir ? [`${dir}${sep}${base}`, base] : [base];
}

/** The package to install for a library, phrased for this OS. */
export function packageHint(name: LibraryName): string {
  if (Deno.build.os === "windows") {
    return `an FFmpeg 5.1/6.x/7.x shared build (${
      supportedMajors(name).map((m) => `${name}-${m}.dll`).join(" or ")
    }) on PATH`;
  }
  if (Deno.build.os === "darwin") return "ffmpeg (Homebrew: brew install ffmpeg)";
  return supportedMajors(name).map((m) => `lib${name}${m}`).join(" or ") +
    " (Debian 12: apt-get install " + `lib${name}${LAYOUTS[59].majors[name]})`;
}

function supportedMajors(name: LibraryName): number[] {
  return [...new Set(SUPPORTED_AVCODEC_MAJORS.map((m) => LAYOUTS[m].majors[name]))];
}

function tryOpen<S extends Deno.ForeignLibraryInterface>(
  name: LibraryName,
  major: number,
  symbols: S,
  tried: string[],
): Deno.DynamicLibrary<S> | undefined {
  for (const file of libraryFileNames(name, major)) {
    try {
      return Deno.dlopen(file, symbols);
    } catch (err) {
      tried.push(`${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return undefined;
}

function splitVersion(v: number): string {
  return `${v >>> 16}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

function load(): FfmpegLibraries {
  // libavutil decides the release line: every other library depends on it.
  const tried: string[] = [];
  let avutilLib: Deno.DynamicLibrary<typeof AVUTIL_SYMBOLS> | undefined;
  let layout: LayoutTable | undefined;
  for (const major of SUPPORTED_AVCODEC_MAJORS) {
    const table = LAYOUTS[major];
    avutilLib = tryOpen("avutil", table.majors.avutil, AVUTIL_SYMBOLS, tried);
    if (avutilLib) {
      layout = table;
      break;
    }
  }
  if (!avutilLib || !layout) {
    throw new FfmpegLoadError("libavutil", tried, packageHint("avutil"), unsupportedHint());
  }
  if (!layout.verified && Deno.env.get(ALLOW_UNVERIFIED_ENV) !== "1") {
    avutilLib.close();
    throw new FfmpegLoadError(
      "libavutil",
      tried.concat(libraryFileNames("avutil", layout.majors.avutil)),
      packageHint("avutil"),
      `FFmpeg ${layout.release} was found but its struct layout table is not verified; ` +
        `set ${ALLOW_UNVERIFIED_ENV}=1 to use it anyway`,
    );
  }
  const open = <S extends Deno.ForeignLibraryInterface>(name: LibraryName, symbols: S) => {
    const names: string[] = [];
    const lib = tryOpen(name, layout.majors[name], symbols, names);
    if (!lib) {
      throw new FfmpegLoadError(
        `lib${name}`,
        names,
        packageHint(name),
        `libavutil ${layout.majors.avutil} (FFmpeg ${layout.release}) is installed but lib${name} ` +
          `${layout.majors[name]} is not`,
      );
    }
    return lib;
  };
  const avcodec = open("avcodec", AVCODEC_SYMBOLS).symbols;
  const avformat = open("avformat", AVFORMAT_SYMBOLS).symbols;
  const swscale = open("swscale", SWSCALE_SYMBOLS).symbols;
  const swresample = open("swresample", SWRESAMPLE_SYMBOLS).symbols;
  const avutil = avutilLib.symbols;
  const raw = {
    avutil: avutil.avutil_version(),
    avcodec: avcodec.avcodec_version(),
    avformat: avformat.avformat_version(),
    swscale: swscale.swscale_version(),
    swresample: swresample.swresample_version(),
  };
  for (const name of Object.keys(raw) as LibraryName[]) {
    if (raw[name] >>> 16 !== layout.majors[name]) {
      throw new FfmpegLoadError(
        `lib${name}`,
        libraryFileNames(name, layout.majors[name]),
        packageHint(name),
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
    layout,
    versions: {
      avformat: splitVersion(raw.avformat),
      avcodec: splitVersion(raw.avcodec),
      avutil: splitVersion(raw.avutil),
      swscale: splitVersion(raw.swscale),
      swresample: splitVersion(raw.swresample),
    },
  };
  checkLayoutAgainstOptions(libs);
  return libs;
}

const AV_LOG_ERROR = 16;
const AV_OPT_SEARCH_FAKE_OBJ = 2;

/** Sets FFmpeg's global log level (AV_LOG_QUIET -8 … AV_LOG_TRACE 56; default here: 16). */
export function setFfmpegLogLevel(level: number): void {
  ffmpeg().avutil.av_log_set_level(level);
}

/**
 * Cross-checks the AVCodecContext table against the offsets FFmpeg itself publishes in its
 * AVOption table, so a wrong table fails at load instead of corrupting memory later.
 */
function checkLayoutAgainstOptions(libs: FfmpegLibraries): void {
  const ctx = libs.layout.AVCodecContext;
  const expected: Record<string, number> = {
    time_base: ctx.time_base,
    pkt_timebase: ctx.pkt_timebase,
    video_size: ctx.width,
    pixel_format: ctx.pix_fmt,
    ar: ctx.sample_rate,
    frame_size: ctx.frame_size,
    ch_layout: ctx.ch_layout,
  };
  const klass = libs.avcodec.avcodec_get_class();
  const classRef = new BigUint64Array([Deno.UnsafePointer.value(klass)]);
  const obj = Deno.UnsafePointer.of(classRef);
  const mismatches: string[] = [];
  for (const [name, offset] of Object.entries(expected)) {
    const opt = libs.avutil.av_opt_find(obj, cString(name), null, 0, AV_OPT_SEARCH_FAKE_OBJ);
    if (opt === null) continue; // option renamed in this version: nothing to compare against
    const actual = new Deno.UnsafePointerView(opt).getInt32(AVOPTION_OFFSET);
    if (actual !== offset) mismatches.push(`${name}: table ${offset}, FFmpeg ${actual}`);
  }
  if (mismatches.length > 0) {
    throw new FfmpegLoadError(
      "libavcodec",
      libraryFileNames("avcodec", libs.layout.majors.avcodec),
      packageHint("avcodec"),
      `AVCodecContext layout table for FFmpeg ${libs.layout.release} does not match the ` +
        `library (${mismatches.join(", ")})`,
    );
  }
}

/** `AVOption.offset`: after `const char *name` and `const char *help`, in every version. */
const AVOPTION_OFFSET = 16;

const encoder = new TextEncoder();

/** A NUL-terminated UTF-8 copy of `s` for passing to C. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(encoder.encode(s).length + 1);
  encoder.encodeInto(s, bytes);
  return bytes;
}

function unsupportedHint(): string {
  const found: string[] = [];
  // libavutil 55/56 are FFmpeg 3.x/4.x, 60 is FFmpeg 8.0.
  for (const major of [55, 56, 60]) {
    if (Object.values(LAYOUTS).some((t) => t.majors.avutil === major)) continue;
    for (const file of libraryFileNames("avutil", major)) {
      try {
        Deno.dlopen(file, {}).close();
        found.push(file);
      } catch (err) {
        if (!(err instanceof Error)) throw err;
        // Not installed: expected for most majors; nothing to report.
      }
    }
  }
  return found.length > 0
    ? `found unsupported ${found.join(", ")}; supported: FFmpeg 5.1, 6.x, 7.x`
    : "no supported FFmpeg (5.1, 6.x, 7.x) found";
}
