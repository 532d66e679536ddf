/**
 * {@link Scaler}: converts decoded pictures of any size, pixel format and sample aspect ratio to
 * the program raster as tightly packed I420, with libswscale. Letterbox/pillarbox bars are made
 * by scaling into a sub-rectangle of the output and filling only the bars with black. Colour is
 * converted to the program's: BT.709 matrix, limited ("TV") range, whatever the source's matrix
 * (BT.601, BT.709, BT.2020, FCC, SMPTE 240M; unspecified: BT.709 from 720 lines up, BT.601
 * below) and range (full-range `yuvj*` formats and frames tagged `pc` are expanded to 16–235).
 *
 * @module
 */

import type { AspectPolicy } from "../media/program_format.ts";
import { i420Size } from "../media/program_frame.ts";
import { FfmpegArgumentError, FfmpegClosedError, FfmpegError } from "./errors.ts";
import { type DecodedFrame, nativeFrame } from "./decoded_frame.ts";
import { ffmpeg } from "./library.ts";
import {
  addressOf,
  AVERROR_EINVAL,
  check,
  layout,
  nonNull,
  type Ptr,
  readCString,
  StructView,
} from "./native.ts";

/** Output raster and fitting policy of a {@link Scaler}. */
export interface ScalerTarget {
  /** Output width, even. */
  width: number;
  /** Output height, even. */
  height: number;
  /** How a source of another display aspect is fitted (output pixels are square). */
  policy: AspectPolicy;
}

/** A rectangle in pixels. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Where a source lands in the output and which part of it is used. */
export interface ScaleGeometry {
  /** Part of the source picture that is scaled (the whole picture unless cropping). */
  source: Rect;
  /** Part of the output it is scaled into (the whole raster unless letter/pillarboxing). */
  target: Rect;
}

const AV_PIX_FMT_YUV420P = 0;
const AVCOL_RANGE_MPEG = 1;
const AVCOL_RANGE_JPEG = 2;
const SWS_BICUBIC = 4;
/** `SWS_CS_*` matrices (the same numbers as the `AVColorSpace` values they stand for). */
const SWS_CS_ITU709 = 1;
const SWS_CS_FCC = 4;
const SWS_CS_ITU601 = 5;
const SWS_CS_SMPTE240M = 7;
const SWS_CS_BT2020 = 9;
/** swscale's neutral brightness, contrast and saturation (16.16 fixed point). */
const UNITY = 1 << 16;
/**
 * libswscale's SIMD output stages need 16-byte aligned rows (it falls back to much slower code
 * otherwise: 854-wide rows cost about 3× per pixel, measured). Rows of the packed program
 * raster that are not aligned are scaled into an aligned scratch picture and copied.
 */
const SWS_ALIGN = 16;
const SCRATCH_ALIGN = 64;
const AV_PIX_FMT_FLAG_PAL = 1 << 1;
const AV_PIX_FMT_FLAG_BITSTREAM = 1 << 2;
const AV_PIX_FMT_FLAG_HWACCEL = 1 << 3;
const AV_PIX_FMT_FLAG_RGB = 1 << 5;

/**
 * Computes where a `srcWidth`x`srcHeight` picture with sample aspect `sar` lands in a
 * `dst` raster under `policy`. All output rectangles have even sizes and offsets (4:2:0).
 */
export function scaleGeometry(
  srcWidth: number,
  srcHeight: number,
  sar: { num: number; den: number } | undefined,
  dst: ScalerTarget,
): ScaleGeometry {
  const full = { x: 0, y: 0, width: srcWidth, height: srcHeight };
  const raster = { x: 0, y: 0, width: dst.width, height: dst.height };
  if (dst.policy === "stretch") return { source: full, target: raster };
  const sarValue = sar && sar.num > 0 && sar.den > 0 ? sar.num / sar.den : 1;
  const srcAspect = (srcWidth * sarValue) / srcHeight;
  const dstAspect = dst.width / dst.height;
  const close = Math.abs(srcAspect - dstAspect) / dstAspect < 0.002;
  if (close) return { source: full, target: raster };
  if (dst.policy === "preserve") {
    if (srcAspect > dstAspect) {
      const h = even(Math.min(dst.height, dst.width / srcAspect));
      return {
        source: full,
        target: { x: 0, y: evenFloor((dst.height - h) / 2), width: dst.width, height: h },
      };
    }
    const w = even(Math.min(dst.width, dst.height * srcAspect));
    return {
      source: full,
      target: { x: evenFloor((dst.width - w) / 2), y: 0, width: w, height: dst.height },
    };
  }
  // crop: fill the raster, cut the source's excess (centred, even offsets for chroma).
  if (srcAspect > dstAspect) {
    const w = Math.min(srcWidth, Math.max(2, Math.round((srcWidth * dstAspect) / srcAspect)));
    return {
      source: { x: evenFloor((srcWidth - w) / 2), y: 0, width: w, height: srcHeight },
      target: raster,
    };
  }
  const h = Math.min(srcHeight, Math.max(2, Math.round((srcHeight * srcAspect) / dstAspect)));
  return {
    source: { x: 0, y: evenFloor((srcHeight - h) / 2), width: srcWidth, height: h },
    target: raster,
  };
}

function even(v: number): number {
  return Math.max(2, Math.round(v / 2) * 2);
}

function evenFloor(v: number): number {
  return Math.max(0, Math.floor(v / 2) * 2);
}

interface PlaneLayout {
  /** Bytes per pixel step on the plane (0 when horizontal crop is impossible). */
  step: number;
  /** log2 of the plane's horizontal subsampling. */
  hshift: number;
  /** log2 of the plane's vertical subsampling. */
  vshift: number;
  /** The plane is not a picture (a palette): never offset. */
  fixed: boolean;
}

/** The colour of a source picture as swscale takes it. */
export interface SourceColour {
  /** `SWS_CS_*` matrix of the source's YUV (ignored by swscale for RGB sources). */
  matrix: number;
  /** True for full ("PC", 0–255) range. */
  fullRange: boolean;
}

/**
 * The matrix and range a decoded picture is in, from its `AVColorSpace`, `AVColorRange`,
 * pixel format name and height. Unspecified matrices follow the broadcast convention: HD
 * (720 lines and up) is BT.709, SD is BT.601.
 */
export function sourceColour(
  colorspace: number,
  colorRange: number,
  formatName: string,
  height: number,
): SourceColour {
  const fullRange = colorRange === AVCOL_RANGE_JPEG || formatName.startsWith("yuvj");
  switch (colorspace) {
    case 1: // AVCOL_SPC_BT709
      return { matrix: SWS_CS_ITU709, fullRange };
    case 4: // AVCOL_SPC_FCC
      return { matrix: SWS_CS_FCC, fullRange };
    case 5: // AVCOL_SPC_BT470BG
    case 6: // AVCOL_SPC_SMPTE170M
      return { matrix: SWS_CS_ITU601, fullRange };
    case 7: // AVCOL_SPC_SMPTE240M
      return { matrix: SWS_CS_SMPTE240M, fullRange };
    case 9: // AVCOL_SPC_BT2020_NCL
    case 10: // AVCOL_SPC_BT2020_CL
      return { matrix: SWS_CS_BT2020, fullRange };
    default: // unspecified, reserved, RGB (swscale ignores the matrix of RGB), others
      return { matrix: height >= 720 ? SWS_CS_ITU709 : SWS_CS_ITU601, fullRange };
  }
}

interface SourceConfig {
  key: string;
  /** Matrix and range of the source. */
  colour: SourceColour;
  format: number;
  geometry: ScaleGeometry;
  planes: PlaneLayout[];
  /** Source is I420 at the output size and needs no scaling: planes are copied. */
  copy: boolean;
}

/** Converts decoded video frames to the program raster, I420 packed. Synchronous. */
export class Scaler {
  readonly #dst: ScalerTarget;
  #sws: Ptr | null = null;
  #closed = false;
  #config: SourceConfig | undefined;
  readonly #srcPtrs = new BigUint64Array(4);
  readonly #srcStrides = new Int32Array(4);
  readonly #dstPtrs = new BigUint64Array(4);
  readonly #dstStrides: Int32Array;
  readonly #barPtrs = new BigUint64Array(4);
  readonly #barStrides: BigInt64Array;
  /** Aligned picture swscale writes to when the packed raster's rows are not aligned. */
  #scratch: { key: string; mem: Ptr; ptrs: BigUint64Array; strides: Int32Array } | null = null;
  /** Bytes of one output picture. */
  readonly frameSize: number;

  constructor(dst: ScalerTarget) {
    if (
      !Number.isInteger(dst.width) || !Number.isInteger(dst.height) || dst.width < 2 ||
      dst.height < 2 || dst.width % 2 !== 0 || dst.height % 2 !== 0
    ) {
      throw new FfmpegArgumentError("program raster must be even and at least 2x2", dst);
    }
    if (!["preserve", "stretch", "crop"].includes(dst.policy)) {
      throw new FfmpegArgumentError("unknown aspect policy", dst.policy);
    }
    this.#dst = { ...dst };
    this.frameSize = i420Size(dst.width, dst.height);
    const cw = dst.width >> 1;
    this.#dstStrides = new Int32Array([dst.width, cw, cw, 0]);
    this.#barStrides = new BigInt64Array([BigInt(dst.width), BigInt(cw), BigInt(cw), 0n]);
  }

  /** The geometry used for the last frame (undefined before the first). */
  get geometry(): ScaleGeometry | undefined {
    return this.#config?.geometry;
  }

  /**
   * Scales `frame` into `out` (or a new buffer) and returns it: Y, then U, then V, tightly
   * packed. Reconfigures itself when the source size, format or aspect changes.
   */
  scale(frame: DecodedFrame, out?: Uint8Array): Uint8Array {
    if (this.#closed) throw new FfmpegClosedError("Scaler");
    if (frame.kind !== "video") {
      throw new FfmpegArgumentError("Scaler needs a video frame", frame.kind);
    }
    const ptr = nativeFrame(frame);
    const fv = new StructView(ptr, "AVFrame");
    const width = fv.i32("width");
    const height = fv.i32("height");
    const format = fv.i32("format");
    if (width <= 0 || height <= 0 || format < 0) {
      throw new FfmpegArgumentError("frame has no picture", { width, height, format });
    }
    const colorspace = fv.i32("colorspace");
    const colorRange = fv.i32("color_range");
    const dst = out ?? new Uint8Array(this.frameSize);
    if (dst.length < this.frameSize) {
      throw new FfmpegArgumentError("output buffer too small", {
        length: dst.length,
        need: this.frameSize,
      });
    }
    const config = this.#configure(width, height, format, frame.sar, colorspace, colorRange);
    for (let p = 0; p < 4; p++) {
      this.#srcStrides[p] = fv.i32("linesize", p * 4);
    }
    const { source, target } = config.geometry;
    if (config.copy) {
      this.#copyI420(fv, dst);
      return dst;
    }
    for (let p = 0; p < 4; p++) {
      const data = fv.ptr("data", p);
      const plane = config.planes[p];
      if (data === null || plane === undefined || plane.fixed) {
        this.#srcPtrs[p] = data === null ? 0n : addressOf(data);
        continue;
      }
      const x = plane.step === 0 ? 0 : (source.x >> plane.hshift) * plane.step;
      const y = (source.y >> plane.vshift) * this.#srcStrides[p];
      this.#srcPtrs[p] = addressOf(data, x + y);
    }
    const base = Deno.UnsafePointer.of(dst);
    if (base === null) throw new FfmpegArgumentError("output buffer has no memory", dst.length);
    this.#fillBars(base, target);
    this.#pointPlanes(this.#dstPtrs, base, target.x, target.y);
    const scratch = aligned(this.#dstPtrs, this.#dstStrides)
      ? null
      : this.#scratchFor(target.width, target.height);
    const ret = ffmpeg().swscale.sws_scale(
      this.#sws,
      this.#srcPtrs,
      this.#srcStrides,
      0,
      source.height,
      scratch?.ptrs ?? this.#dstPtrs,
      scratch?.strides ?? this.#dstStrides,
    );
    if (ret <= 0) {
      throw new FfmpegError("sws_scale", ret < 0 ? ret : AVERROR_EINVAL, "scaled no rows", {
        width,
        height,
        format,
      });
    }
    if (scratch !== null) {
      const { avutil } = ffmpeg();
      for (let p = 0; p < 3; p++) {
        avutil.av_image_copy_plane(
          Deno.UnsafePointer.create(this.#dstPtrs[p]),
          this.#dstStrides[p],
          Deno.UnsafePointer.create(scratch.ptrs[p]),
          scratch.strides[p],
          p === 0 ? target.width : target.width >> 1,
          p === 0 ? target.height : target.height >> 1,
        );
      }
    }
    return dst;
  }

  /** The aligned scratch I420 picture of `width` × `height` (made, or remade, on demand). */
  #scratchFor(width: number, height: number) {
    const key = `${width}x${height}`;
    if (this.#scratch?.key === key) return this.#scratch;
    this.#freeScratch();
    const up = (v: number) => Math.ceil(v / SCRATCH_ALIGN) * SCRATCH_ALIGN;
    const strides = new Int32Array([up(width), up(width >> 1), up(width >> 1), 0]);
    const sizes = [strides[0] * height, strides[1] * (height >> 1), strides[2] * (height >> 1)];
    const total = sizes[0] + sizes[1] + sizes[2];
    const mem = nonNull(ffmpeg().avutil.av_malloc(BigInt(total)), "av_malloc", total);
    const ptrs = new BigUint64Array([
      addressOf(mem),
      addressOf(mem, sizes[0]),
      addressOf(mem, sizes[0] + sizes[1]),
      0n,
    ]);
    this.#scratch = { key, mem, ptrs, strides };
    return this.#scratch;
  }

  #freeScratch(): void {
    if (this.#scratch !== null) ffmpeg().avutil.av_free(this.#scratch.mem);
    this.#scratch = null;
  }

  /** Sets `ptrs` to the Y/U/V addresses of output pixel (x, y) in the buffer at `base`. */
  #pointPlanes(ptrs: BigUint64Array, base: Ptr, x: number, y: number): void {
    const { width, height } = this.#dst;
    const cw = width >> 1;
    const ySize = width * height;
    const cSize = cw * (height >> 1);
    ptrs[0] = addressOf(base, y * width + x);
    ptrs[1] = addressOf(base, ySize + (y >> 1) * cw + (x >> 1));
    ptrs[2] = addressOf(base, ySize + cSize + (y >> 1) * cw + (x >> 1));
    ptrs[3] = 0n;
  }

  /** Blacks the parts of the raster outside `target` (no-op when it covers everything). */
  #fillBars(base: Ptr, target: Rect): void {
    const { width, height } = this.#dst;
    const bars: Rect[] = [
      { x: 0, y: 0, width, height: target.y },
      { x: 0, y: target.y + target.height, width, height: height - target.y - target.height },
      { x: 0, y: target.y, width: target.x, height: target.height },
      {
        x: target.x + target.width,
        y: target.y,
        width: width - target.x - target.width,
        height: target.height,
      },
    ];
    const { avutil } = ffmpeg();
    for (const bar of bars) {
      if (bar.width <= 0 || bar.height <= 0) continue;
      this.#pointPlanes(this.#barPtrs, base, bar.x, bar.y);
      check(
        avutil.av_image_fill_black(
          this.#barPtrs,
          this.#barStrides,
          AV_PIX_FMT_YUV420P,
          AVCOL_RANGE_MPEG,
          bar.width,
          bar.height,
        ),
        "av_image_fill_black",
        bar,
      );
    }
  }

  /** Copies an I420 frame of the output size plane by plane (row by row if strides differ). */
  #copyI420(fv: StructView, dst: Uint8Array): void {
    const { width, height } = this.#dst;
    let offset = 0;
    for (let p = 0; p < 3; p++) {
      const w = p === 0 ? width : width >> 1;
      const h = p === 0 ? height : height >> 1;
      const stride = this.#srcStrides[p];
      const data = fv.ptr("data", p);
      if (data === null || stride < w) {
        throw new FfmpegArgumentError("frame plane missing", { plane: p, stride });
      }
      if (stride === w) {
        Deno.UnsafePointerView.copyInto(data, dst.subarray(offset, offset + w * h));
      } else {
        const src = new Uint8Array(
          Deno.UnsafePointerView.getArrayBuffer(data, stride * (h - 1) + w),
        );
        for (let row = 0; row < h; row++) {
          dst.set(src.subarray(row * stride, row * stride + w), offset + row * w);
        }
      }
      offset += w * h;
    }
  }

  #configure(
    width: number,
    height: number,
    format: number,
    sar: { num: number; den: number } | undefined,
    colorspace: number,
    colorRange: number,
  ): SourceConfig {
    const key = `${width}x${height}/${format}/${sar?.num ?? 0}:${sar?.den ?? 0}/` +
      `${colorspace}/${colorRange}`;
    if (this.#config?.key === key) return this.#config;
    const geometry = scaleGeometry(width, height, sar, this.#dst);
    const { source, target } = geometry;
    const colour = sourceColour(colorspace, colorRange, pixelFormatName(format), height);
    const previous = this.#config?.colour;
    if (
      this.#sws !== null && previous !== undefined &&
      (previous.matrix !== colour.matrix || previous.fullRange !== colour.fullRange)
    ) {
      // A context converting between two matrices holds a cascade of contexts that a later
      // sws_setColorspaceDetails does not undo: colour changes start from a fresh one.
      ffmpeg().swscale.sws_freeContext(this.#sws);
      this.#sws = null;
    }
    const copy = !colour.fullRange && colour.matrix === SWS_CS_ITU709 &&
      format === AV_PIX_FMT_YUV420P && width === this.#dst.width &&
      height === this.#dst.height && source.width === width && source.height === height &&
      target.width === this.#dst.width && target.height === this.#dst.height;
    const planes = planeLayouts(format);
    if (!copy) {
      const sws = ffmpeg().swscale.sws_getCachedContext(
        this.#sws,
        source.width,
        source.height,
        format,
        target.width,
        target.height,
        AV_PIX_FMT_YUV420P,
        SWS_BICUBIC,
        null,
        null,
        null,
      );
      if (sws === null) {
        throw new FfmpegError("sws_getCachedContext", AVERROR_EINVAL, "unsupported conversion", {
          source,
          target,
          format: pixelFormatName(format),
        });
      }
      this.#sws = sws;
      this.#setColour(sws, colour, highDepthYuv(format), {
        source,
        target,
        format: pixelFormatName(format),
      });
    }
    this.#config = { key, colour, format, geometry, planes, copy };
    return this.#config;
  }

  /**
   * Converts from the source's matrix and range to BT.709 limited range. `highDepthYuv`: the
   * source is YUV of more than 8 bits, whose range swscale (5.1 at least) does not convert
   * YUV to YUV directly; it does when it goes through RGB, which it does when the two
   * matrices differ: a full-range BT.709 source of that kind is given a BT.709 table one part
   * in 2^16 off (far below one code value) so that the conversion takes that path.
   */
  #setColour(sws: Ptr, colour: SourceColour, highDepthYuv: boolean, value: unknown): void {
    const { swscale } = ffmpeg();
    let source = swscale.sws_getCoefficients(colour.matrix);
    let nudged: Int32Array<ArrayBuffer> | undefined;
    if (colour.fullRange && highDepthYuv && colour.matrix === SWS_CS_ITU709 && source !== null) {
      nudged = new Int32Array(4);
      Deno.UnsafePointerView.copyInto(source, new Uint8Array(nudged.buffer));
      nudged[3] += 1;
      source = Deno.UnsafePointer.of(nudged);
    }
    const ret = swscale.sws_setColorspaceDetails(
      sws,
      source,
      colour.fullRange ? 1 : 0,
      swscale.sws_getCoefficients(SWS_CS_ITU709),
      0,
      0,
      UNITY,
      UNITY,
    );
    if (ret < 0) {
      throw new FfmpegError("sws_setColorspaceDetails", AVERROR_EINVAL, "refused", {
        ...colour,
        value,
      });
    }
  }

  /** Frees the swscale context. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sws !== null) ffmpeg().swscale.sws_freeContext(this.#sws);
    this.#sws = null;
    this.#freeScratch();
  }

  /** Same as {@link Scaler.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Whether every plane's address and stride suit libswscale's SIMD output (see SWS_ALIGN). */
function aligned(ptrs: BigUint64Array, strides: Int32Array): boolean {
  for (let p = 0; p < 3; p++) {
    if (ptrs[p] % BigInt(SWS_ALIGN) !== 0n || strides[p] % SWS_ALIGN !== 0) return false;
  }
  return true;
}

/** FFmpeg's name of a pixel format, e.g. "yuv420p". */
export function pixelFormatName(format: number): string {
  return readCString(ffmpeg().avutil.av_get_pix_fmt_name(format));
}

/** True for a YUV (not RGB, not grey) pixel format of more than 8 bits per component. */
function highDepthYuv(format: number): boolean {
  const desc = ffmpeg().avutil.av_pix_fmt_desc_get(format);
  if (desc === null) throw new FfmpegArgumentError("unknown pixel format", format);
  const view = new Deno.UnsafePointerView(desc);
  const d = layout().AVPixFmtDescriptor;
  const flags = view.getBigUint64(d.flags);
  const depth = view.getInt32(d.comp + layout().AVComponentDescriptor.depth);
  return view.getUint8(d.nb_components) >= 3 && (flags & BigInt(AV_PIX_FMT_FLAG_RGB)) === 0n &&
    depth > 8;
}

/** Per-plane crop arithmetic of a pixel format, from its descriptor. */
function planeLayouts(format: number): PlaneLayout[] {
  const desc = ffmpeg().avutil.av_pix_fmt_desc_get(format);
  if (desc === null) throw new FfmpegArgumentError("unknown pixel format", format);
  const d = new StructView(desc, "AVPixFmtDescriptor");
  const view = new Deno.UnsafePointerView(desc);
  const hs = view.getUint8(layout().AVPixFmtDescriptor.log2_chroma_w);
  const vs = view.getUint8(layout().AVPixFmtDescriptor.log2_chroma_h);
  const flags = Number(d.big("flags"));
  if (flags & AV_PIX_FMT_FLAG_HWACCEL) {
    throw new FfmpegArgumentError("hardware frames are not supported", pixelFormatName(format));
  }
  const count = view.getUint8(layout().AVPixFmtDescriptor.nb_components);
  const comp = layout().AVComponentDescriptor;
  const planes: PlaneLayout[] = [];
  for (let c = 0; c < count; c++) {
    const at = layout().AVPixFmtDescriptor.comp + c * comp.sizeof;
    const plane = view.getInt32(at + comp.plane);
    const step = view.getInt32(at + comp.step);
    const chroma = (c === 1 || c === 2) && !(flags & AV_PIX_FMT_FLAG_PAL);
    planes[plane] ??= {
      step: flags & AV_PIX_FMT_FLAG_BITSTREAM ? 0 : step,
      hshift: chroma ? hs : 0,
      vshift: chroma ? vs : 0,
      fixed: false,
    };
  }
  if (flags & AV_PIX_FMT_FLAG_PAL) planes[1] = { step: 0, hshift: 0, vshift: 0, fixed: true };
  return planes;
}
