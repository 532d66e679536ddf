/**
 * Small tools for native memory shared by the wrappers: struct field access through the layout
 * table, pointer-to-pointer cells for `T**` arguments, error-code checks. Internal to `ffi/`.
 *
 * @module
 */

import { FfmpegError } from "./errors.ts";
import { ffmpeg } from "./library.ts";
import type { LayoutTable, StructLayout } from "./layout.ts";
import type { Rational } from "../media/rational.ts";

/** A non-null native pointer. */
export type Ptr = Deno.PointerObject;

/** `AVERROR(EAGAIN)`: -EAGAIN, which is 35 on macOS and 11 on Linux and Windows. */
export const AVERROR_EAGAIN = Deno.build.os === "darwin" ? -35 : -11;
/** `AVERROR_EOF`: `-MKTAG('E','O','F',' ')`. */
export const AVERROR_EOF = -0x20464f45;
/** `AVERROR_DECODER_NOT_FOUND`: `FFERRTAG(0xF8,'D','E','C')`. */
export const AVERROR_DECODER_NOT_FOUND = -0x434544f8;
/** `AVERROR_ENCODER_NOT_FOUND`: `FFERRTAG(0xF8,'E','N','C')`. */
export const AVERROR_ENCODER_NOT_FOUND = -0x434e45f8;
/** `AVERROR(EINVAL)`. */
export const AVERROR_EINVAL = -22;
/** `AV_NOPTS_VALUE` (INT64_MIN). */
export const AV_NOPTS_VALUE = -0x8000000000000000n;
/** `AV_TIME_BASE`: microseconds. */
export const AV_TIME_BASE = 1_000_000;

/** FFmpeg's message for an error code (`av_strerror`). */
export function errorText(code: number): string {
  const buf = new Uint8Array(256);
  if (ffmpeg().avutil.av_strerror(code, buf, BigInt(buf.length)) < 0) {
    return `unknown error ${code}`;
  }
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
}

/** Throws {@link FfmpegError} when `ret` is negative; returns `ret` otherwise. */
export function check(ret: number, call: string, value?: unknown): number {
  if (ret < 0) throw new FfmpegError(call, ret, errorText(ret), value);
  return ret;
}

/** Throws {@link FfmpegError} (code `ENOMEM`-like 0) when `p` is null; returns `p` otherwise. */
export function nonNull(p: Deno.PointerValue, call: string, value?: unknown): Ptr {
  if (p === null) throw new FfmpegError(call, 0, "returned NULL", value);
  return p;
}

/** The layout table of the loaded FFmpeg. */
export function layout(): LayoutTable {
  return ffmpeg().layout;
}

/**
 * A read/write view of one native struct: `DataView` over `sizeof` bytes at `p`. Field names
 * are the C names from the layout table.
 */
export class StructView {
  readonly #view: DataView;
  readonly #layout: StructLayout;
  readonly #struct: string;

  constructor(p: Ptr, struct: keyof Omit<LayoutTable, "release" | "majors">) {
    this.#layout = layout()[struct];
    this.#struct = struct;
    this.#view = new DataView(Deno.UnsafePointerView.getArrayBuffer(p, this.#layout.sizeof));
  }

  #offset(field: string): number {
    const off = this.#layout[field];
    if (off === undefined) throw new TypeError(`${this.#struct}.${field} is not in the layout`);
    return off;
  }

  /** Reads an `int`/enum field. */
  i32(field: string, extra = 0): number {
    return this.#view.getInt32(this.#offset(field) + extra, true);
  }
  /** Writes an `int`/enum field. */
  setI32(field: string, v: number, extra = 0): void {
    this.#view.setInt32(this.#offset(field) + extra, v, true);
  }
  /** Reads an `unsigned int` field. */
  u32(field: string): number {
    return this.#view.getUint32(this.#offset(field), true);
  }
  /** Reads an `int64_t` field; `undefined` for `AV_NOPTS_VALUE`. */
  i64(field: string): number | undefined {
    const v = this.#view.getBigInt64(this.#offset(field), true);
    return v === AV_NOPTS_VALUE ? undefined : Number(v);
  }
  /** Reads an `int64_t` field as a bigint (AV_NOPTS_VALUE included). */
  big(field: string, extra = 0): bigint {
    return this.#view.getBigInt64(this.#offset(field) + extra, true);
  }
  /** Writes an `int64_t` field; `undefined` writes `AV_NOPTS_VALUE`. */
  setI64(field: string, v: number | bigint | undefined): void {
    this.#view.setBigInt64(
      this.#offset(field),
      v === undefined ? AV_NOPTS_VALUE : BigInt(v),
      true,
    );
  }
  /** Reads a pointer field (`index` selects an element of a pointer array field). */
  ptr(field: string, index = 0): Deno.PointerValue {
    const v = this.#view.getBigUint64(this.#offset(field) + index * 8, true);
    return v === 0n ? null : Deno.UnsafePointer.create(v);
  }
  /** Writes a pointer field. */
  setPtr(field: string, p: Deno.PointerValue, index = 0): void {
    this.#view.setBigUint64(this.#offset(field) + index * 8, Deno.UnsafePointer.value(p), true);
  }
  /** Reads an `AVRational` field; `undefined` when the denominator is 0. */
  rational(field: string): Rational | undefined {
    const off = this.#offset(field);
    const num = this.#view.getInt32(off, true);
    const den = this.#view.getInt32(off + 4, true);
    return den === 0 ? undefined : { num, den };
  }
  /** Writes an `AVRational` field. */
  setRational(field: string, r: Rational): void {
    const off = this.#offset(field);
    this.#view.setInt32(off, r.num, true);
    this.#view.setInt32(off + 4, r.den, true);
  }
}

/**
 * A native-memory cell holding one pointer, for `T**` arguments such as `av_frame_free(&f)`.
 * `buf` is passed to C; `get()` reads back what C stored.
 */
export class PointerCell {
  /** The 8-byte cell. */
  readonly buf: BigUint64Array<ArrayBuffer>;

  constructor(p: Deno.PointerValue = null) {
    this.buf = new BigUint64Array([Deno.UnsafePointer.value(p)]);
  }
  /** The pointer currently stored in the cell. */
  get(): Deno.PointerValue {
    return this.buf[0] === 0n ? null : Deno.UnsafePointer.create(this.buf[0]);
  }
}

/** Address of `p` plus `bytes`, as a bigint (for pointer arrays passed to C). */
export function addressOf(p: Ptr, bytes = 0): bigint {
  return Deno.UnsafePointer.value(p) + BigInt(bytes);
}

/** Reads a C string; "" for null. */
export function readCString(p: Deno.PointerValue): string {
  return p === null ? "" : Deno.UnsafePointerView.getCString(p);
}

/** `av_rescale_q` with round-to-nearest, exact for 64-bit values. */
export function rescale(v: number, from: Rational, to: Rational): number {
  const AV_ROUND_NEAR_INF = 5;
  return Number(
    ffmpeg().avutil.av_rescale_rnd(
      BigInt(v),
      BigInt(from.num) * BigInt(to.den),
      BigInt(to.num) * BigInt(from.den),
      AV_ROUND_NEAR_INF,
    ),
  );
}
