/**
 * The Renderer frame wire format, version 1 (see `docs/frame-protocol.md`): a stream header
 * once per connection, then per program frame a fixed 128-byte header followed by the raw
 * I420 planes and the S16 interleaved audio. Little-endian throughout. Both headers begin with
 * a magic word and end with a CRC32 of the bytes before it, so {@link FrameStreamParser} can
 * find the next frame boundary in a stream it joins at an arbitrary byte.
 *
 * @module
 */

import type { ProgramFormat } from "../../media/program_format.ts";
import type { Rational } from "../../media/rational.ts";

/** Wire format version written in both headers. */
export const FRAME_PROTOCOL_VERSION = 1;
/** "RVFS" read as a little-endian u32: magic of the stream header. */
export const STREAM_MAGIC = 0x53465652;
/** "RVFR" read as a little-endian u32: magic (sync word) of every frame header. */
export const FRAME_MAGIC = 0x52465652;
/** Bytes of a version-1 stream header. */
export const STREAM_HEADER_SIZE = 64;
/** Bytes of a version-1 frame header. */
export const FRAME_HEADER_SIZE = 128;
/** `pixelFormat` code: I420, 8 bits, three planes Y, U (Cb), V (Cr), chroma halved both ways. */
export const PIXEL_FORMAT_I420 = 1;
/** `sampleFormat` code: signed 16-bit little-endian, channels interleaved. */
export const SAMPLE_FORMAT_S16 = 1;
/** `colorRange` code: limited ("TV", "MPEG") range, Y 16..235 and chroma 16..240. */
export const COLOR_RANGE_LIMITED = 1;
/** `colorMatrix` code (ITU-T H.273 MatrixCoefficients) meaning "unspecified". */
export const COLOR_MATRIX_UNSPECIFIED = 2;
/** `chromaLocation` code (ITU-T H.273 chroma_sample_loc_type 0): MPEG-2 "left" siting. */
export const CHROMA_LOCATION_LEFT = 0;

/** Largest header length a reader accepts (later compatible revisions may append fields). */
const MAX_HEADER_SIZE = 4096;
/** Largest picture side a reader accepts. */
const MAX_DIMENSION = 16384;
/** Largest payload a reader accepts, bytes. */
const MAX_PAYLOAD_SIZE = 512 * 1024 * 1024;

/** The stream header: who is speaking and in which program format. */
export interface StreamHeader {
  version: number;
  channelId: number;
  width: number;
  height: number;
  frameRate: Rational;
  sampleRate: number;
  channels: number;
  pixelFormat: number;
  sampleFormat: number;
  colorRange: number;
  colorMatrix: number;
  chromaLocation: number;
}

/** The fixed header in front of every frame's payload. */
export interface FrameHeader {
  version: number;
  channelId: number;
  /** `FrameFlags` bits of the program frame. */
  flags: number;
  /** Frames offered by the sink since it opened; a gap means the reader lost frames. */
  sequence: number;
  /** The channel's output frame number. */
  frameNumber: number;
  /** Presentation time, 90 kHz. */
  pts90k: number;
  /** When the frame is due on air, UTC microseconds since the epoch. */
  wallClockUtcUs: number;
  width: number;
  height: number;
  pixelFormat: number;
  sampleFormat: number;
  /** Bytes of the Y, U and V planes, in payload order. */
  planeSizes: [number, number, number];
  /** Bytes per row of the Y, U and V planes. */
  planeStrides: [number, number, number];
  sampleRate: number;
  channels: number;
  /** Audio samples per channel. */
  samples: number;
  /** Bytes of audio after the planes: samples × channels × 2. */
  audioSize: number;
  frameRate: Rational;
  /** Bytes after the header: the three planes and the audio. */
  payloadSize: number;
}

/** A header that cannot be written: the named field is out of range. */
export class FrameHeaderFieldError extends Error {
  override name = "FrameHeaderFieldError";
  constructor(readonly field: string, readonly value: unknown) {
    super(`frame protocol field ${field} out of range: ${String(value)}`);
  }
}

// --- CRC32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib's crc32) ------------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32 (the zlib/PNG/Ethernet one) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// --- Encoding -------------------------------------------------------------------------------

function setU64(view: DataView, offset: number, value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new FrameHeaderFieldError(field, value);
  view.setUint32(offset, value % 0x100000000, true);
  view.setUint32(offset + 4, Math.floor(value / 0x100000000), true);
}

function getU64(view: DataView, offset: number): number {
  return view.getUint32(offset + 4, true) * 0x100000000 + view.getUint32(offset, true);
}

function setU32(view: DataView, offset: number, value: number, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new FrameHeaderFieldError(field, value);
  }
  view.setUint32(offset, value, true);
}

function setU16(view: DataView, offset: number, value: number, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new FrameHeaderFieldError(field, value);
  }
  view.setUint16(offset, value, true);
}

function seal(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(bytes.length - 4, crc32(bytes.subarray(0, bytes.length - 4)), true);
  return bytes;
}

/** The stream header a sink of `channelId` in `format` sends first on every connection. */
export function streamHeaderFor(
  channelId: number,
  format: Pick<ProgramFormat, "width" | "height" | "frameRate" | "sampleRate" | "channels">,
  colorMatrix = COLOR_MATRIX_UNSPECIFIED,
): StreamHeader {
  return {
    version: FRAME_PROTOCOL_VERSION,
    channelId,
    width: format.width,
    height: format.height,
    frameRate: { num: format.frameRate.num, den: format.frameRate.den },
    sampleRate: format.sampleRate,
    channels: format.channels,
    pixelFormat: PIXEL_FORMAT_I420,
    sampleFormat: SAMPLE_FORMAT_S16,
    colorRange: COLOR_RANGE_LIMITED,
    colorMatrix,
    chromaLocation: CHROMA_LOCATION_LEFT,
  };
}

/** Writes a stream header (64 bytes). Throws {@link FrameHeaderFieldError}. */
export function encodeStreamHeader(h: StreamHeader): Uint8Array {
  const bytes = new Uint8Array(STREAM_HEADER_SIZE);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, STREAM_MAGIC, true);
  setU16(v, 4, h.version, "version");
  v.setUint16(6, STREAM_HEADER_SIZE, true);
  setU32(v, 8, h.channelId, "channelId");
  setU32(v, 12, h.width, "width");
  setU32(v, 16, h.height, "height");
  setU32(v, 20, h.frameRate.num, "frameRate.num");
  setU32(v, 24, h.frameRate.den, "frameRate.den");
  setU32(v, 28, h.sampleRate, "sampleRate");
  setU16(v, 32, h.channels, "channels");
  setU16(v, 34, h.pixelFormat, "pixelFormat");
  setU16(v, 36, h.sampleFormat, "sampleFormat");
  v.setUint8(38, h.colorRange);
  v.setUint8(39, h.colorMatrix);
  v.setUint8(40, h.chromaLocation);
  return seal(bytes);
}

/** Writes a frame header (128 bytes). Throws {@link FrameHeaderFieldError}. */
export function encodeFrameHeader(h: FrameHeader): Uint8Array {
  const bytes = new Uint8Array(FRAME_HEADER_SIZE);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, FRAME_MAGIC, true);
  setU16(v, 4, h.version, "version");
  v.setUint16(6, FRAME_HEADER_SIZE, true);
  setU32(v, 8, h.channelId, "channelId");
  setU32(v, 12, h.flags, "flags");
  setU64(v, 16, h.sequence, "sequence");
  setU64(v, 24, h.frameNumber, "frameNumber");
  setU64(v, 32, h.pts90k, "pts90k");
  setU64(v, 40, h.wallClockUtcUs, "wallClockUtcUs");
  setU32(v, 48, h.width, "width");
  setU32(v, 52, h.height, "height");
  setU16(v, 56, h.pixelFormat, "pixelFormat");
  setU16(v, 58, h.sampleFormat, "sampleFormat");
  for (let p = 0; p < 3; p++) {
    setU32(v, 60 + 4 * p, h.planeSizes[p], `planeSizes[${p}]`);
    setU32(v, 72 + 4 * p, h.planeStrides[p], `planeStrides[${p}]`);
  }
  setU32(v, 84, h.sampleRate, "sampleRate");
  setU16(v, 88, h.channels, "channels");
  setU32(v, 92, h.samples, "samples");
  setU32(v, 96, h.audioSize, "audioSize");
  setU32(v, 100, h.frameRate.num, "frameRate.num");
  setU32(v, 104, h.frameRate.den, "frameRate.den");
  setU32(v, 108, h.payloadSize, "payloadSize");
  return seal(bytes);
}

// --- Decoding -------------------------------------------------------------------------------

function crcMatches(bytes: Uint8Array, length: number): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  return view.getUint32(length - 4, true) === crc32(bytes.subarray(0, length - 4));
}

/**
 * Reads a stream header from the start of `bytes` (at least its header length long), or
 * returns undefined when the magic, length, version or CRC does not check out.
 */
export function decodeStreamHeader(bytes: Uint8Array): StreamHeader | undefined {
  if (bytes.length < 8) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = v.getUint16(6, true);
  if (v.getUint32(0, true) !== STREAM_MAGIC || v.getUint16(4, true) !== FRAME_PROTOCOL_VERSION) {
    return undefined;
  }
  if (length < STREAM_HEADER_SIZE || length > MAX_HEADER_SIZE || bytes.length < length) {
    return undefined;
  }
  if (!crcMatches(bytes, length)) return undefined;
  const h: StreamHeader = {
    version: FRAME_PROTOCOL_VERSION,
    channelId: v.getUint32(8, true),
    width: v.getUint32(12, true),
    height: v.getUint32(16, true),
    frameRate: { num: v.getUint32(20, true), den: v.getUint32(24, true) },
    sampleRate: v.getUint32(28, true),
    channels: v.getUint16(32, true),
    pixelFormat: v.getUint16(34, true),
    sampleFormat: v.getUint16(36, true),
    colorRange: v.getUint8(38),
    colorMatrix: v.getUint8(39),
    chromaLocation: v.getUint8(40),
  };
  return h.frameRate.den > 0 ? h : undefined;
}

/**
 * Reads a frame header from the start of `bytes`, or returns undefined when the magic,
 * length, version, CRC or plane/audio sizes do not check out (a false sync candidate).
 */
export function decodeFrameHeader(bytes: Uint8Array): FrameHeader | undefined {
  if (bytes.length < 8) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = v.getUint16(6, true);
  if (v.getUint32(0, true) !== FRAME_MAGIC || v.getUint16(4, true) !== FRAME_PROTOCOL_VERSION) {
    return undefined;
  }
  if (length < FRAME_HEADER_SIZE || length > MAX_HEADER_SIZE || bytes.length < length) {
    return undefined;
  }
  if (!crcMatches(bytes, length)) return undefined;
  const h: FrameHeader = {
    version: FRAME_PROTOCOL_VERSION,
    channelId: v.getUint32(8, true),
    flags: v.getUint32(12, true),
    sequence: getU64(v, 16),
    frameNumber: getU64(v, 24),
    pts90k: getU64(v, 32),
    wallClockUtcUs: getU64(v, 40),
    width: v.getUint32(48, true),
    height: v.getUint32(52, true),
    pixelFormat: v.getUint16(56, true),
    sampleFormat: v.getUint16(58, true),
    planeSizes: [v.getUint32(60, true), v.getUint32(64, true), v.getUint32(68, true)],
    planeStrides: [v.getUint32(72, true), v.getUint32(76, true), v.getUint32(80, true)],
    sampleRate: v.getUint32(84, true),
    channels: v.getUint16(88, true),
    samples: v.getUint32(92, true),
    audioSize: v.getUint32(96, true),
    frameRate: { num: v.getUint32(100, true), den: v.getUint32(104, true) },
    payloadSize: v.getUint32(108, true),
  };
  return frameHeaderIsConsistent(h) ? h : undefined;
}

function frameHeaderIsConsistent(h: FrameHeader): boolean {
  const { width: w, height: ht } = h;
  if (w === 0 || ht === 0 || w > MAX_DIMENSION || ht > MAX_DIMENSION || h.frameRate.den === 0) {
    return false;
  }
  if (h.pixelFormat === PIXEL_FORMAT_I420) {
    const rows = [ht, (ht + 1) >> 1, (ht + 1) >> 1];
    const minStride = [w, (w + 1) >> 1, (w + 1) >> 1];
    for (let p = 0; p < 3; p++) {
      if (h.planeStrides[p] < minStride[p] || h.planeSizes[p] !== h.planeStrides[p] * rows[p]) {
        return false;
      }
    }
  }
  if (h.sampleFormat === SAMPLE_FORMAT_S16 && h.audioSize !== h.samples * h.channels * 2) {
    return false;
  }
  const total = h.planeSizes[0] + h.planeSizes[1] + h.planeSizes[2] + h.audioSize;
  return total === h.payloadSize && total <= MAX_PAYLOAD_SIZE;
}

// --- Incremental parser ---------------------------------------------------------------------

/** A frame as a reader receives it. */
export interface ReceivedFrame {
  type: "frame";
  header: FrameHeader;
  /** The three planes back to back, `planeSizes` bytes each. */
  video: Uint8Array;
  /** Interleaved S16 audio, `samples × channels` values. */
  audio: Int16Array;
}

/** What a {@link FrameStreamParser} yields: stream headers and whole frames, in order. */
export type FrameStreamItem = { type: "stream"; header: StreamHeader } | ReceivedFrame;

const MAGIC_BYTES_0 = 0x52; // 'R'
const MAGIC_BYTES_1 = 0x56; // 'V'
const MAGIC_BYTES_2 = 0x46; // 'F'
const MAGIC_TAIL_STREAM = 0x53; // 'S'
const MAGIC_TAIL_FRAME = 0x52; // 'R'

function isMagicAt(b: Uint8Array, i: number): boolean {
  return b[i] === MAGIC_BYTES_0 && b[i + 1] === MAGIC_BYTES_1 && b[i + 2] === MAGIC_BYTES_2 &&
    (b[i + 3] === MAGIC_TAIL_FRAME || b[i + 3] === MAGIC_TAIL_STREAM);
}

/**
 * Turns a byte stream (fed in chunks of any size, possibly starting mid-frame) into stream
 * headers and whole frames. Bytes that are not part of a verified header and its payload are
 * skipped and counted in {@link FrameStreamParser.skippedBytes}; a reader that joins late or
 * a parser fed a cut stream resumes at the next frame header whose CRC checks.
 */
export class FrameStreamParser {
  /** Held bytes: a header candidate, sometimes followed by bytes after it. */
  #head = new Uint8Array(MAX_HEADER_SIZE);
  #headLength = 0;
  /** Payload of the frame being collected, once its header checked out. */
  #frame: { header: FrameHeader; payload: Uint8Array; filled: number } | undefined;
  /** Bytes dropped while looking for a header. */
  skippedBytes = 0;
  /** Headers whose magic matched but whose CRC or fields did not (false or torn candidates). */
  rejectedHeaders = 0;

  /** Parses `chunk` (copied as needed; the caller may reuse it) and returns completed items. */
  feed(chunk: Uint8Array): FrameStreamItem[] {
    const items: FrameStreamItem[] = [];
    let off = 0;
    while (off < chunk.length) {
      if (this.#frame) {
        off += this.#fillPayload(chunk.subarray(off), items);
      } else {
        const want = this.#headWanted();
        const n = Math.min(want - this.#headLength, chunk.length - off);
        this.#head.set(chunk.subarray(off, off + n), this.#headLength);
        this.#headLength += n;
        off += n;
        this.#parseHead(items);
      }
    }
    return items;
  }

  /** Bytes the held candidate needs: 8 for magic, version and length, then its length. */
  #headWanted(): number {
    if (this.#headLength < 8) return 8;
    return new DataView(this.#head.buffer).getUint16(6, true);
  }

  /** Copies payload bytes from `bytes`; returns how many it took. */
  #fillPayload(bytes: Uint8Array, items: FrameStreamItem[]): number {
    const f = this.#frame!;
    const n = Math.min(f.payload.length - f.filled, bytes.length);
    f.payload.set(bytes.subarray(0, n), f.filled);
    f.filled += n;
    if (f.filled === f.payload.length) {
      items.push(splitFrame(f.header, f.payload));
      this.#frame = undefined;
    }
    return n;
  }

  /** Works through the held bytes until more input is needed or a payload starts. */
  #parseHead(items: FrameStreamItem[]): void {
    const head = this.#head;
    while (!this.#frame) {
      if (this.#headLength < 8) {
        this.#resync(0);
        return;
      }
      if (!isMagicAt(head, 0)) {
        this.#resync(1);
        continue;
      }
      const length = new DataView(head.buffer).getUint16(6, true);
      const minimum = head[3] === MAGIC_TAIL_FRAME ? FRAME_HEADER_SIZE : STREAM_HEADER_SIZE;
      if (length < minimum || length > MAX_HEADER_SIZE) {
        this.rejectedHeaders++;
        this.#resync(1);
        continue;
      }
      if (this.#headLength < length) return;
      const bytes = head.subarray(0, length);
      if (head[3] === MAGIC_TAIL_STREAM) {
        const header = decodeStreamHeader(bytes);
        if (header === undefined) {
          this.rejectedHeaders++;
          this.#resync(1);
          continue;
        }
        items.push({ type: "stream", header });
        this.#consume(length);
        continue;
      }
      const header = decodeFrameHeader(bytes);
      if (header === undefined) {
        this.rejectedHeaders++;
        this.#resync(1);
        continue;
      }
      this.#frame = { header, payload: new Uint8Array(header.payloadSize), filled: 0 };
      this.#consume(length);
      // Bytes held beyond the header (after a resync) belong to the payload.
      const taken = this.#fillPayload(head.subarray(0, this.#headLength), items);
      this.#consume(taken);
    }
  }

  /** Drops at least `from` held bytes and up to the next possible magic. */
  #resync(from: number): void {
    let i = from;
    while (i < this.#headLength && !this.#couldStartMagic(i)) i++;
    if (i === 0) return;
    this.#consume(i);
    this.skippedBytes += i;
  }

  /** Whether the held bytes from `i` on agree with a magic as far as they go. */
  #couldStartMagic(i: number): boolean {
    const head = this.#head;
    const expect = [MAGIC_BYTES_0, MAGIC_BYTES_1, MAGIC_BYTES_2];
    for (let k = 0; i + k < this.#headLength && k < 4; k++) {
      const b = head[i + k];
      if (k < 3 ? b !== expect[k] : b !== MAGIC_TAIL_FRAME && b !== MAGIC_TAIL_STREAM) {
        return false;
      }
    }
    return true;
  }

  #consume(count: number): void {
    this.#head.copyWithin(0, count, this.#headLength);
    this.#headLength -= count;
  }
}

function splitFrame(header: FrameHeader, payload: Uint8Array): ReceivedFrame {
  const videoSize = header.planeSizes[0] + header.planeSizes[1] + header.planeSizes[2];
  const video = payload.subarray(0, videoSize);
  const audioBytes = payload.subarray(videoSize, videoSize + header.audioSize);
  const audio = audioBytes.byteOffset % 2 === 0
    ? new Int16Array(audioBytes.buffer, audioBytes.byteOffset, audioBytes.byteLength >> 1)
    : new Int16Array(audioBytes.slice().buffer);
  return { type: "frame", header, video, audio };
}

/** Something bytes can be read from, like a `Deno.Conn`. */
export interface ByteSource {
  read(p: Uint8Array): Promise<number | null>;
}

/**
 * Reads `source` to its end and yields stream headers and whole frames. `parser` may be
 * passed in to observe {@link FrameStreamParser.skippedBytes}.
 */
export async function* readFrameStream(
  source: ByteSource,
  parser: FrameStreamParser = new FrameStreamParser(),
  chunkSize = 1 << 20,
): AsyncGenerator<FrameStreamItem> {
  const buf = new Uint8Array(chunkSize);
  while (true) {
    const n = await source.read(buf);
    if (n === null) return;
    yield* parser.feed(buf.subarray(0, n));
  }
}
