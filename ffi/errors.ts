/**
 * Typed errors of the FFmpeg layer: a failed FFmpeg call ({@link FfmpegError}), a library that
 * could not be loaded ({@link FfmpegLoadError}, {@link FfmpegUnsupportedError} for an FFmpeg
 * without a verified layout table) and a wrapper used after `close()`
 * ({@link FfmpegClosedError}).
 *
 * @module
 */

/** An FFmpeg function returned an error code (a negative `AVERROR`). */
export class FfmpegError extends Error {
  /** The FFmpeg function that failed, e.g. `"avformat_open_input"`. */
  readonly call: string;
  /** The negative `AVERROR` code it returned (0 when the call returned a null pointer). */
  readonly code: number;
  /** FFmpeg's text for `code` (`av_strerror`), or a description for null results. */
  readonly avMessage: string;
  /** The offending value: a path, a codec name, an option, a stream index. */
  readonly value?: unknown;

  constructor(call: string, code: number, avMessage: string, value?: unknown) {
    const what = value === undefined ? "" : ` (${describe(value)})`;
    super(`${call} failed${what}: ${avMessage} [${code}]`);
    this.name = "FfmpegError";
    this.call = call;
    this.code = code;
    this.avMessage = avMessage;
    this.value = value;
  }
}

/** None of the supported versions of an FFmpeg library could be loaded. */
export class FfmpegLoadError extends Error {
  /** The library, e.g. `"libavcodec"`. */
  readonly library: string;
  /** Every file name that was tried, each with the loader's reason. */
  readonly tried: string[];
  /** The package(s) that provide the library, e.g. `"libavcodec59 (Debian 12)"`. */
  readonly package: string;

  constructor(library: string, tried: string[], pkg: string, detail?: string) {
    super(
      `cannot load ${library}${detail ? ` (${detail})` : ""}; install ${pkg}. Tried: ${
        tried.join("; ")
      }`,
    );
    this.name = "FfmpegLoadError";
    this.library = library;
    this.tried = tried;
    this.package = pkg;
  }
}

/**
 * An FFmpeg library is installed, but in a major version the engine has no verified struct
 * layout table for (it is refused, never guessed at). The message is one line naming the
 * version found and the versions supported.
 */
export class FfmpegUnsupportedError extends FfmpegLoadError {
  /** The versions found, e.g. `["62.3.100"]`. */
  readonly found: string[];

  constructor(library: string, found: string[], tried: string[], pkg: string, line: string) {
    super(library, tried, pkg, line);
    this.name = "FfmpegUnsupportedError";
    this.message = line;
    this.found = found;
  }
}

/** A wrapper was used after `close()`; carries the wrapper's class name. */
export class FfmpegClosedError extends Error {
  /** The class of the closed wrapper, e.g. `"Decoder"`. */
  readonly value: string;

  constructor(what: string) {
    super(`${what} is closed`);
    this.name = "FfmpegClosedError";
    this.value = what;
  }
}

/** A wrapper was given arguments it cannot work with (carries the offending value). */
export class FfmpegArgumentError extends Error {
  /** The offending argument. */
  readonly value: unknown;

  constructor(message: string, value: unknown) {
    super(`${message}: ${describe(value)}`);
    this.name = "FfmpegArgumentError";
    this.value = value;
  }
}

function describe(value: unknown): string {
  // Values are strings, numbers or small plain objects built by this layer.
  return typeof value === "object" && value !== null || typeof value === "string"
    ? JSON.stringify(value)
    : String(value);
}
