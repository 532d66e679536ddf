/**
 * {@link Packet}: one compressed packet read by a {@link Demuxer}, owning its native
 * `AVPacket` until {@link Packet.free}.
 *
 * @module
 */

import type { Rational } from "../media/rational.ts";
import { FfmpegClosedError } from "./errors.ts";
import { ffmpeg } from "./library.ts";
import { PointerCell, type Ptr, StructView } from "./native.ts";

const AV_PKT_FLAG_KEY = 1;

/** Frees packets that were dropped without `free()` (a backstop, not the normal path). */
const leaked = new FinalizationRegistry<bigint>((address) => {
  ffmpeg().avcodec.av_packet_free(new BigUint64Array([address]));
});

let pointerOf: (p: Packet) => Ptr;

/** A demuxed packet. Owned by the caller: call {@link Packet.free} when done with it. */
export class Packet {
  #ptr: Ptr | null;
  /** Index of the stream the packet belongs to. */
  readonly streamIndex: number;
  /** Presentation time in the stream's time base; undefined when unknown. */
  readonly pts?: number;
  /** Decode time in the stream's time base; undefined when unknown. */
  readonly dts?: number;
  /** Duration in the stream's time base (0 when unknown). */
  readonly duration: number;
  /** True for a keyframe packet. */
  readonly isKey: boolean;
  /** Payload size in bytes. */
  readonly size: number;
  /** The stream's time base. */
  readonly timeBase: Rational;

  static {
    pointerOf = (p) => {
      if (p.#ptr === null) throw new FfmpegClosedError("Packet");
      return p.#ptr;
    };
  }

  /** @internal Wraps a filled `AVPacket*`; use {@link Demuxer.read}. */
  constructor(ptr: Ptr, timeBase: Rational) {
    this.#ptr = ptr;
    const v = new StructView(ptr, "AVPacket");
    this.streamIndex = v.i32("stream_index");
    this.pts = v.i64("pts");
    this.dts = v.i64("dts");
    this.duration = v.i64("duration") ?? 0;
    this.isKey = (v.i32("flags") & AV_PKT_FLAG_KEY) !== 0;
    this.size = v.i32("size");
    this.timeBase = timeBase;
    leaked.register(this, Deno.UnsafePointer.value(ptr), this);
  }

  /** Presentation time in seconds; undefined when unknown. */
  get ptsSeconds(): number | undefined {
    return this.pts === undefined ? undefined : (this.pts * this.timeBase.num) / this.timeBase.den;
  }

  /** True after {@link Packet.free}. */
  get freed(): boolean {
    return this.#ptr === null;
  }

  /** Frees the native packet. Safe to call twice. */
  free(): void {
    if (this.#ptr === null) return;
    leaked.unregister(this);
    ffmpeg().avcodec.av_packet_free(new PointerCell(this.#ptr).buf);
    this.#ptr = null;
  }

  /** Same as {@link Packet.free}. */
  [Symbol.dispose](): void {
    this.free();
  }
}

/** @internal The native `AVPacket*` of a packet (throws if freed). Not exported by mod.ts. */
export function nativePacket(p: Packet): Ptr {
  return pointerOf(p);
}
