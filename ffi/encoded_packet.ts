/**
 * {@link EncodedPacket} and the shared machinery of the encoders: opening a codec context and
 * collecting packets from it.
 *
 * @module
 */

import type { Rational } from "../media/rational.ts";
import { FfmpegArgumentError, FfmpegClosedError, FfmpegError } from "./errors.ts";
import { cString, ffmpeg } from "./library.ts";
import {
  AVERROR_EAGAIN,
  AVERROR_ENCODER_NOT_FOUND,
  AVERROR_EOF,
  check,
  errorText,
  nonNull,
  PointerCell,
  type Ptr,
  StructView,
} from "./native.ts";
import { withOpenLock } from "./open_lock.ts";

/** One compressed packet, timestamps in the encoder's time base. The data is a JS copy. */
export interface EncodedPacket {
  /** Compressed bytes. */
  data: Uint8Array;
  /** Presentation timestamp. */
  pts: number;
  /** Decode timestamp. */
  dts: number;
  /** Duration (0 when unknown). */
  duration: number;
  /** True for a keyframe (IDR for H.264). */
  isKey: boolean;
}

/**
 * Timing of one packet an encoder handed straight to a muxer ({@link MuxerInput}): its bytes
 * stayed in native memory. Timestamps in the encoder's time base, before the input's offset.
 */
export interface PacketTiming {
  /** Presentation timestamp. */
  pts: number;
  /** Decode timestamp. */
  dts: number;
  /** True for a keyframe (IDR for H.264). */
  isKey: boolean;
  /** Compressed bytes. */
  size: number;
}

/**
 * @internal Takes one encoded packet and its reference (leaves the packet blank), e.g. a
 * muxer stream's writer. `timing` was read from it just before.
 */
export type PacketDestination = (pkt: Ptr, view: StructView, timing: PacketTiming) => void;

const AV_PKT_FLAG_KEY = 1;
/** `AV_OPT_SEARCH_CHILDREN`: also look in the codec's private options. */
export const SEARCH_CHILDREN = 1;

let contextOf: (e: EncoderCore) => { ctx: Ptr; timeBase: Rational };
const cores = new WeakMap<object, EncoderCore>();

/** @internal Associates a public encoder object with its core (for the muxer). */
export function registerCore(owner: object, core: EncoderCore): void {
  cores.set(owner, core);
}

const destinations = new WeakMap<object, { owner: object; deliver: PacketDestination }>();

/** @internal Makes `input` (a muxer stream) the packet destination of encoder `owner`. */
export function registerDestination(
  input: object,
  owner: object,
  deliver: PacketDestination,
): void {
  destinations.set(input, { owner, deliver });
}

/** @internal The packet destination `input` stands for; it must be fed by encoder `owner`. */
export function destinationOf(input: object, owner: object): PacketDestination {
  const d = destinations.get(input);
  if (d === undefined) throw new FfmpegArgumentError("not a muxer input", typeof input);
  if (d.owner !== owner) {
    throw new FfmpegArgumentError("muxer input belongs to another encoder's stream", input);
  }
  return d.deliver;
}

/** A codec context opened for encoding plus a reusable packet; base of both encoders. */
export class EncoderCore {
  #ctx: Ptr | null;
  #pkt: Ptr | null;
  #pktView: StructView | null = null;
  #draining = false;
  /** Codec name, e.g. "libx264". */
  readonly codecName: string;
  /** Time base of packet timestamps. */
  readonly timeBase: Rational;

  static {
    contextOf = (e) => ({ ctx: e.context(), timeBase: e.timeBase });
  }

  /**
   * Allocates a context for encoder `name`, lets `configure` set options on it, and opens it.
   * Frees everything and rethrows when any step fails.
   */
  constructor(name: string, timeBase: Rational, configure: (ctx: Ptr) => void) {
    const { avcodec } = ffmpeg();
    const codec = avcodec.avcodec_find_encoder_by_name(cString(name));
    if (codec === null) {
      throw new FfmpegError(
        "avcodec_find_encoder_by_name",
        AVERROR_ENCODER_NOT_FOUND,
        errorText(AVERROR_ENCODER_NOT_FOUND),
        name,
      );
    }
    const ctx = nonNull(avcodec.avcodec_alloc_context3(codec), "avcodec_alloc_context3", name);
    try {
      configure(ctx);
      check(withOpenLock(() => avcodec.avcodec_open2(ctx, codec, null)), "avcodec_open2", name);
    } catch (err) {
      avcodec.avcodec_free_context(new PointerCell(ctx).buf);
      throw err;
    }
    this.#ctx = ctx;
    this.#pkt = avcodec.av_packet_alloc();
    if (this.#pkt === null) {
      this.close();
      throw new FfmpegError("av_packet_alloc", 0, "returned NULL", name);
    }
    this.#pktView = new StructView(this.#pkt, "AVPacket");
    this.codecName = name;
    this.timeBase = timeBase;
  }

  /** The open codec context (throws after close). */
  context(): Ptr {
    if (this.#ctx === null) throw new FfmpegClosedError(this.codecName ?? "encoder");
    return this.#ctx;
  }

  /** True once draining started. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Sends `frame` (null = drain) and returns every packet the encoder has ready. */
  sendAndCollect(frame: Ptr | null): EncodedPacket[] {
    const ctx = this.#send(frame);
    return this.#collect(ctx);
  }

  /**
   * Sends `frame` (null = drain) and hands every packet the encoder has ready to `destination`
   * without copying its bytes; returns their timing.
   */
  sendAndDeliver(frame: Ptr | null, destination: PacketDestination): PacketTiming[] {
    const ctx = this.#send(frame);
    const { avcodec } = ffmpeg();
    const pkt = this.#pkt!;
    const v = this.#pktView!;
    const out: PacketTiming[] = [];
    for (;;) {
      const ret = avcodec.avcodec_receive_packet(ctx, pkt);
      if (ret === AVERROR_EAGAIN || ret === AVERROR_EOF) return out;
      check(ret, "avcodec_receive_packet", { codec: this.codecName });
      const pts = v.i64("pts") ?? 0;
      const timing: PacketTiming = {
        pts,
        dts: v.i64("dts") ?? pts,
        isKey: (v.i32("flags") & AV_PKT_FLAG_KEY) !== 0,
        size: v.i32("size"),
      };
      try {
        destination(pkt, v, timing);
      } finally {
        avcodec.av_packet_unref(pkt); // a no-op when the destination took the reference
      }
      out.push(timing);
    }
  }

  #send(frame: Ptr | null): Ptr {
    const ctx = this.context();
    const { avcodec } = ffmpeg();
    if (frame === null) {
      if (!this.#draining) {
        const ret = avcodec.avcodec_send_frame(ctx, null);
        if (ret !== AVERROR_EOF) {
          check(ret, "avcodec_send_frame", { codec: this.codecName, drain: true });
        }
        this.#draining = true;
      }
    } else {
      if (this.#draining) {
        throw new FfmpegArgumentError(
          "encoder was drained; frames can no longer be sent",
          this.codecName,
        );
      }
      check(avcodec.avcodec_send_frame(ctx, frame), "avcodec_send_frame", {
        codec: this.codecName,
      });
    }
    return ctx;
  }

  #collect(ctx: Ptr): EncodedPacket[] {
    const { avcodec } = ffmpeg();
    const pkt = this.#pkt!;
    const v = this.#pktView!;
    const out: EncodedPacket[] = [];
    for (;;) {
      const ret = avcodec.avcodec_receive_packet(ctx, pkt);
      if (ret === AVERROR_EAGAIN || ret === AVERROR_EOF) return out;
      check(ret, "avcodec_receive_packet", { codec: this.codecName });
      const size = v.i32("size");
      const data = new Uint8Array(size);
      const src = v.ptr("data");
      if (src !== null && size > 0) Deno.UnsafePointerView.copyInto(src, data);
      const pts = v.i64("pts") ?? 0;
      out.push({
        data,
        pts,
        dts: v.i64("dts") ?? pts,
        duration: v.i64("duration") ?? 0,
        isKey: (v.i32("flags") & AV_PKT_FLAG_KEY) !== 0,
      });
      avcodec.av_packet_unref(pkt);
    }
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#ctx === null;
  }

  /** Frees the packet and codec context. Safe to call twice. */
  close(): void {
    const { avcodec } = ffmpeg();
    if (this.#pkt !== null) avcodec.av_packet_free(new PointerCell(this.#pkt).buf);
    this.#pkt = null;
    this.#pktView = null;
    if (this.#ctx !== null) avcodec.avcodec_free_context(new PointerCell(this.#ctx).buf);
    this.#ctx = null;
  }
}

/**
 * @internal Codec context and time base of a VideoEncoder/AudioEncoder, for the muxer. Not
 * exported by mod.ts.
 */
export function encoderContext(owner: object): { ctx: Ptr; timeBase: Rational } {
  const core = cores.get(owner);
  if (core === undefined) {
    throw new FfmpegArgumentError("not an encoder of this layer", typeof owner);
  }
  return contextOf(core);
}

/** Sets a string AVOption on `obj` (searching private options too); typed error on failure. */
export function setOption(obj: Ptr, name: string, value: string | number): void {
  const ret = ffmpeg().avutil.av_opt_set(
    obj,
    cString(name),
    cString(String(value)),
    SEARCH_CHILDREN,
  );
  check(ret, "av_opt_set", { option: name, value });
}

/** Reads an integer AVOption of `obj`. */
export function getIntOption(obj: Ptr, name: string): number {
  const out = new BigInt64Array(1);
  check(
    ffmpeg().avutil.av_opt_get_int(obj, cString(name), SEARCH_CHILDREN, out),
    "av_opt_get_int",
    name,
  );
  return Number(out[0]);
}
