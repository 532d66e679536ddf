/**
 * Shared sources: channels of one engine that air the same file from the same in-point in the
 * same program format get the same pictures and audio from their producers, so one of them
 * (the leader) decodes and converts, and the others (followers) copy its output.
 *
 * The leader is the first channel to open such a source while another could join: its
 * {@link FileProducer} runs as always, and every frame's picture and audio also go into a ring
 * of slots in a `SharedArrayBuffer`. A channel that opens the same source while the ring still
 * holds its first frame follows: it reads slot after slot instead of decoding. The leader
 * never waits for a follower. A follower waits (at most {@link MAX_WAIT_MS} per frame) only
 * when it runs ahead of the leader, and falls back to decoding the file itself from where it is
 * — the same pictures, at the cost of a seek — when the leader ends first, falls too far ahead
 * for the ring, or does not come. A follower that leaves at its first frame (it started too far
 * behind: channels started one after another, e.g. by control calls) opens the source again as
 * a channel would: it follows another decode of it that still holds the first frame, or leads
 * one, so the channels behind it can follow it instead of each decoding alone. Each slot is
 * guarded by a sequence number (a seqlock): a follower checks it before and after copying, so
 * a slot overwritten while it read is never aired.
 *
 * The table of sources and the rings are made once per process by the thread that creates the
 * channel workers ({@link sharedSourceBuffers}) and handed to each worker
 * ({@link useSharedSources}), as the FFmpeg open lock is. Ring memory is touched only by sources
 * that lead while another channel runs; a leader nobody joined stops writing once its first
 * frame leaves the ring.
 *
 * @module
 */

import { i420Size } from "../../../media/program_frame.ts";
import type { ProgramFormat } from "../../../media/program_format.ts";
import type { FrameContext, Producer, ProducerCounters, ShedLevel } from "./producer.ts";

/** Entries of the table: sources that can be shared at once. */
const ENTRIES = 8;
/** Bytes of one entry's ring. */
const RING_BYTES = 64 << 20;
/**
 * Most slots of a ring (1.2 s at 30 fps); fewer when the pictures are large. Each slot written
 * stays resident, and at a segment boundary two rings are live (the ending item's and the next
 * one's, led from its preroll): at 480p a ring of 36 slots holds 22 MB. The slots less
 * {@link MARGIN_SLOTS} are how far a follower may trail the leader — at most its lead (15
 * frames at 500 ms) plus the lateness its clock tolerates before it repeats a frame.
 */
const MAX_SLOTS = 36;
/** Fewest slots for a source to be shared at all. */
const MIN_SLOTS = 16;
/**
 * A follower this many frames behind the newest slot takes no more from the ring: the leader
 * could overwrite its slot while it copies.
 */
const MARGIN_SLOTS = 6;
/** Longest a follower waits for the leader to write one frame, ms. */
export const MAX_WAIT_MS = 1000;
/** Most a channel waits for another one to finish opening a shared source, ms. */
const OPENING_WAIT_MS = 2000;

// Entry states.
const FREE = 0;
const CLAIMING = 1;
const LEADING = 2;
const DONE = 3;

// Table header cells.
const H_CHANNELS = 0;
/** Owner id of the thread opening a shared source (joining or leading), or 0. */
const H_OPENING = 1;
const HEADER_INTS = 16;

// Entry cells.
const E_STATE = 0;
const E_REFS = 1;
const E_WRITTEN = 2;
const E_OWNER = 3;
const E_KEY_LENGTH = 4;
const E_TITLE_LENGTH = 5;
const ENTRY_INTS = 16;
const KEY_BYTES = 2048;
const TITLE_BYTES = 512;
const ENTRY_BYTES = 4 * ENTRY_INTS + KEY_BYTES + TITLE_BYTES;

// Slot header cells.
const S_SEQ = 0;
const S_FLAGS = 1;
const S_SAMPLES = 2;
const S_DECODED = 3;
const S_DROPPED = 4;
const S_DUPLICATED = 5;
const S_DECODE_ERRORS = 6;
const S_PICTURE_LENGTH = 7;
const SLOT_HEADER_BYTES = 64;
const F_PICTURE = 1;
/** The leader's producer gave fewer samples than asked: its audio ended. */
const F_AUDIO_ENDED = 2;

/** What the channel workers of one process share: the table and one ring per entry. */
export interface SharedSourceBuffers {
  table: SharedArrayBuffer;
  rings: SharedArrayBuffer[];
}

/** This thread's view of the process's shared sources. */
class SourceTable {
  readonly cells: Int32Array;
  readonly bytes: Uint8Array;
  readonly rings: SharedArrayBuffer[];
  readonly owner: number;

  constructor(buffers: SharedSourceBuffers, owner: number) {
    this.cells = new Int32Array(buffers.table);
    this.bytes = new Uint8Array(buffers.table);
    this.rings = buffers.rings;
    this.owner = owner;
  }

  base(entry: number): number {
    return HEADER_INTS + entry * (ENTRY_BYTES / 4);
  }

  keyBytes(entry: number): Uint8Array {
    const at = 4 * (this.base(entry) + ENTRY_INTS);
    return this.bytes.subarray(at, at + KEY_BYTES);
  }

  titleBytes(entry: number): Uint8Array {
    const at = 4 * (this.base(entry) + ENTRY_INTS) + KEY_BYTES;
    return this.bytes.subarray(at, at + TITLE_BYTES);
  }

  /** Frees a finished entry nobody reads any more. */
  release(entry: number): void {
    const b = this.base(entry);
    if (Atomics.load(this.cells, b + E_REFS) === 0) {
      Atomics.compareExchange(this.cells, b + E_STATE, DONE, FREE);
    }
  }
}

/** Owner id of a thread that has not called {@link useSharedSources} (tests' main thread). */
const CREATOR = 1;

let table: SourceTable | undefined;

function created(): SourceTable {
  table ??= new SourceTable(
    {
      table: new SharedArrayBuffer(4 * HEADER_INTS + ENTRIES * ENTRY_BYTES),
      rings: Array.from({ length: ENTRIES }, () => new SharedArrayBuffer(RING_BYTES)),
    },
    CREATOR,
  );
  return table;
}

/** The table this thread uses, to hand to the channel workers it creates. */
export function sharedSourceBuffers(): SharedSourceBuffers {
  const t = created();
  return { table: t.cells.buffer as SharedArrayBuffer, rings: t.rings };
}

/**
 * Makes this thread use the table in `buffers` (from its creator's {@link sharedSourceBuffers})
 * as owner `ownerId` (unique among the threads sharing it, ≥ 2). Call before opening producers.
 */
export function useSharedSources(buffers: SharedSourceBuffers, ownerId: number): void {
  if (!(buffers.table instanceof SharedArrayBuffer) || buffers.rings.length !== ENTRIES) {
    throw new TypeError("shared source buffers are not a table made by sharedSourceBuffers()");
  }
  table = new SourceTable(buffers, ownerId);
}

/**
 * How many channels run in the process (the creator tells, as it starts and stops workers): a
 * source is led, and its ring written, only while there are at least two.
 */
export function setSharingChannels(count: number): void {
  Atomics.store(created().cells, H_CHANNELS, count);
}

/**
 * Ends the sources thread `ownerId` leads (its worker was terminated, so it will never close
 * them): their followers read what was written, then decode themselves. Returns how many.
 */
export function endSharedSourcesOf(ownerId: number): number {
  const t = created();
  let ended = 0;
  for (let e = 0; e < ENTRIES; e++) {
    const b = t.base(e);
    if (Atomics.load(t.cells, b + E_OWNER) !== ownerId) continue;
    if (Atomics.compareExchange(t.cells, b + E_STATE, LEADING, DONE) !== LEADING) continue;
    Atomics.notify(t.cells, b + E_WRITTEN);
    t.release(e);
    ended++;
  }
  return ended;
}

/** What makes two channels' producers give the same frames. */
export interface SharedSourceKey {
  path: string;
  /** Effective in-point, seconds. */
  inPointSeconds: number;
  format: ProgramFormat;
  /** Every other option that changes the frames (decode settings). */
  options: Record<string, string | number | boolean | undefined>;
}

/**
 * A producer for `key`: a follower of a channel already leading it, a leader, or (no free
 * entry, a single channel, a key too long) `open(0)` itself. `open(skipFrames, leading)` opens
 * the file privately, `skipFrames` program frames past the in-point (`leading`: for a leader,
 * whose decode the followers wait for); its errors propagate from here as from a private open.
 */
export function openSharedSource(
  key: SharedSourceKey,
  open: (skipFrames: number, leading?: boolean) => Producer,
  onFallback?: (reason: string) => void,
): Producer {
  return openAvoiding(key, open, onFallback, []);
}

/** {@link openSharedSource}, following none of the entries in `left` (this channel left them). */
function openAvoiding(
  key: SharedSourceKey,
  open: (skipFrames: number, leading?: boolean) => Producer,
  onFallback: ((reason: string) => void) | undefined,
  left: readonly number[],
): Producer {
  const t = created();
  const keyBytes = new TextEncoder().encode(JSON.stringify(key));
  const layout = slotLayout(key.format);
  if (keyBytes.length > KEY_BYTES || layout.slots < MIN_SLOTS) return open(0);
  // One channel at a time between looking for a leader and becoming one: channels opening
  // the same file at once (started together) would otherwise each find none and each lead.
  const locked = lockOpening(t);
  try {
    const joined = join(t, keyBytes, layout, left);
    if (joined !== undefined) {
      const reopen = () => openAvoiding(key, open, onFallback, [...left, joined]);
      return new SharedFollower(t, joined, key.path, layout, open, reopen, onFallback);
    }
    if (Atomics.load(t.cells, H_CHANNELS) < 2) return open(0);
    const inner = open(0, true);
    const entry = claim(t, keyBytes, inner.title, layout);
    if (entry === undefined) return inner;
    return new SharedLeader(t, entry, inner, layout);
  } finally {
    if (locked) unlockOpening(t);
  }
}

/**
 * Takes the table's opening lock; false when another thread held it for
 * {@link OPENING_WAIT_MS} (a file slow to open, or a worker ended while opening): the caller
 * then opens without it, at worst leading a decode another channel also leads.
 */
function lockOpening(t: SourceTable): boolean {
  const deadline = performance.now() + OPENING_WAIT_MS;
  for (;;) {
    const holder = Atomics.compareExchange(t.cells, H_OPENING, 0, t.owner);
    if (holder === 0) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    Atomics.wait(t.cells, H_OPENING, holder, Math.min(left, 50));
  }
}

function unlockOpening(t: SourceTable): void {
  Atomics.store(t.cells, H_OPENING, 0);
  Atomics.notify(t.cells, H_OPENING);
}

/** Where things are in a ring: the same for every channel of one key (its format decides). */
interface SlotLayout {
  slots: number;
  /** Bytes from one slot to the next. */
  stride: number;
  pictureBytes: number;
  /** Byte offset of the audio within a slot (after the header and the picture). */
  audioAt: number;
  /** Most samples (per channel) a slot holds. */
  audioSamples: number;
  channels: number;
}

function slotLayout(format: ProgramFormat): SlotLayout {
  const pictureBytes = i420Size(format.width, format.height);
  const { num, den } = format.frameRate;
  const audioSamples = Math.ceil((format.sampleRate * den) / num) + 1;
  const audioAt = align(SLOT_HEADER_BYTES + pictureBytes, 16);
  const stride = align(audioAt + 2 * audioSamples * format.channels, 64);
  const slots = Math.min(MAX_SLOTS, Math.floor(RING_BYTES / stride));
  return { slots, stride, pictureBytes, audioAt, audioSamples, channels: format.channels };
}

/** Byte offset in the ring of the slot holding frame `k`. */
function slotAt(layout: SlotLayout, k: number): number {
  return (k % layout.slots) * layout.stride;
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Joins a source whose first frame is still (or will be) in its ring, other than those in
 * `left`; the entry, or undefined.
 */
function join(
  t: SourceTable,
  key: Uint8Array,
  layout: SlotLayout,
  left: readonly number[],
): number | undefined {
  for (let e = 0; e < ENTRIES; e++) {
    if (left.includes(e)) continue;
    const b = t.base(e);
    if (Atomics.load(t.cells, b + E_STATE) !== LEADING) continue;
    Atomics.add(t.cells, b + E_REFS, 1);
    // Checked after taking the reference: from here the entry cannot be freed under us.
    const ok = Atomics.load(t.cells, b + E_STATE) === LEADING &&
      Atomics.load(t.cells, b + E_KEY_LENGTH) === key.length &&
      sameBytes(t.keyBytes(e).subarray(0, key.length), key) &&
      Atomics.load(t.cells, b + E_WRITTEN) <= layout.slots - MARGIN_SLOTS;
    if (ok) return e;
    Atomics.sub(t.cells, b + E_REFS, 1);
    t.release(e);
  }
  return undefined;
}

/** Takes a free entry for a new source; the entry, or undefined when all are in use. */
function claim(
  t: SourceTable,
  key: Uint8Array,
  title: string | undefined,
  layout: SlotLayout,
): number | undefined {
  for (let e = 0; e < ENTRIES; e++) {
    const b = t.base(e);
    if (Atomics.compareExchange(t.cells, b + E_STATE, FREE, CLAIMING) !== FREE) continue;
    const titleBytes = new TextEncoder().encode(title ?? "").subarray(0, TITLE_BYTES);
    t.keyBytes(e).set(key);
    t.titleBytes(e).set(titleBytes);
    const ring = new Int32Array(t.rings[e]);
    for (let s = 0; s < layout.slots; s++) Atomics.store(ring, (s * layout.stride) / 4 + S_SEQ, -1);
    Atomics.store(t.cells, b + E_WRITTEN, 0);
    Atomics.store(t.cells, b + E_OWNER, t.owner);
    Atomics.store(t.cells, b + E_KEY_LENGTH, key.length);
    Atomics.store(t.cells, b + E_TITLE_LENGTH, title === undefined ? -1 : titleBytes.length);
    Atomics.store(t.cells, b + E_STATE, LEADING);
    return e;
  }
  return undefined;
}

/** The producer of the channel that decodes a shared source: its own, plus the ring. */
class SharedLeader implements Producer {
  readonly description: string;
  readonly title?: string;
  #t: SourceTable;
  #entry: number | undefined;
  #inner: Producer;
  #layout: SlotLayout;
  #ring: Int32Array;
  #ringBytes: Uint8Array;
  #ringAudio: Int16Array;
  #written = 0;
  #picture: Uint8Array | undefined;

  constructor(t: SourceTable, entry: number, inner: Producer, layout: SlotLayout) {
    this.#t = t;
    this.#entry = entry;
    this.#inner = inner;
    this.description = inner.description;
    this.title = inner.title;
    this.#layout = layout;
    this.#ring = new Int32Array(t.rings[entry]);
    this.#ringBytes = new Uint8Array(t.rings[entry]);
    this.#ringAudio = new Int16Array(t.rings[entry]);
  }

  get counters(): ProducerCounters {
    return this.#inner.counters;
  }

  nextVideo(ctx: FrameContext): Uint8Array | undefined {
    // Followers need every picture, also those this channel sheds.
    const picture = this.#inner.nextVideo(
      this.#entry === undefined ? ctx : { ...ctx, skipPicture: false },
    );
    this.#picture = picture;
    return picture;
  }

  nextAudio(samples: number): Int16Array {
    const audio = this.#inner.nextAudio(samples);
    if (this.#entry !== undefined) this.#publish(this.#picture, audio, samples);
    this.#picture = undefined;
    return audio;
  }

  #publish(picture: Uint8Array | undefined, audio: Int16Array, asked: number): void {
    const e = this.#entry!;
    const { slots, audioSamples, channels } = this.#layout;
    const k = this.#written;
    const at = slotAt(this.#layout, k);
    const cell = at / 4;
    const got = Math.min(audioSamples, audio.length / channels);
    Atomics.store(this.#ring, cell + S_SEQ, -1);
    const c = this.#inner.counters;
    this.#ring[cell + S_FLAGS] = (picture ? F_PICTURE : 0) | (got < asked ? F_AUDIO_ENDED : 0);
    this.#ring[cell + S_SAMPLES] = got;
    this.#ring[cell + S_DECODED] = c.decoded;
    this.#ring[cell + S_DROPPED] = c.dropped;
    this.#ring[cell + S_DUPLICATED] = c.duplicated;
    this.#ring[cell + S_DECODE_ERRORS] = c.decodeErrors;
    this.#ring[cell + S_PICTURE_LENGTH] = picture?.length ?? 0;
    if (picture) this.#ringBytes.set(picture, at + SLOT_HEADER_BYTES);
    this.#ringAudio.set(audio.subarray(0, got * channels), (at + this.#layout.audioAt) / 2);
    Atomics.store(this.#ring, cell + S_SEQ, k);
    this.#written = k + 1;
    const b = this.#t.base(e);
    Atomics.store(this.#t.cells, b + E_WRITTEN, k + 1);
    Atomics.notify(this.#t.cells, b + E_WRITTEN);
    if (k + 1 >= slots && Atomics.load(this.#t.cells, b + E_REFS) === 0) {
      // Nobody can join any more (the first frame is leaving the ring): stop writing.
      this.#retire();
    }
  }

  /** Ends the source: followers read what is written, then decode themselves. */
  #retire(): void {
    const e = this.#entry;
    if (e === undefined) return;
    this.#entry = undefined;
    const b = this.#t.base(e);
    Atomics.store(this.#t.cells, b + E_STATE, DONE);
    Atomics.notify(this.#t.cells, b + E_WRITTEN);
    this.#t.release(e);
  }

  setShedding(level: ShedLevel): void {
    this.#inner.setShedding?.(level);
  }

  close(): void {
    this.#retire();
    this.#inner.close();
  }
}

/** The producer of a channel that copies a shared source's frames from the leader's ring. */
class SharedFollower implements Producer {
  readonly description: string;
  readonly title?: string;
  readonly #counters: ProducerCounters = {
    decoded: 0,
    dropped: 0,
    duplicated: 0,
    decodeErrors: 0,
    latencySamples: [],
    shared: 0,
  };
  #t: SourceTable;
  #entry: number | undefined;
  #open: (skipFrames: number) => Producer;
  /** Opens the source again from its first frame, as a channel would (shared or not). */
  #reopen: () => Producer;
  #onFallback: (reason: string) => void;
  /** Why the ring could not serve, until the producer taking over is known. */
  #leftBecause: string | undefined;
  #ring: Int32Array;
  #ringBytes: Uint8Array;
  #ringAudio: Int16Array;
  #layout: SlotLayout;
  #leaderOwner: number;
  /** Next video frame (slot sequence number) to read. */
  #video = 0;
  /** Slot and sample within it of the next audio sample. */
  #audioSlot = 0;
  #audioOffset = 0;
  #audioEnded = false;
  #picture: Uint8Array;
  #hasPicture = false;
  /** Decodes the file itself once the ring could not serve. */
  #private: Producer | undefined;
  #privateFailed = false;
  #shedding: ShedLevel = "none";
  #closed = false;

  constructor(
    t: SourceTable,
    entry: number,
    path: string,
    layout: SlotLayout,
    open: (skipFrames: number) => Producer,
    reopen: () => Producer,
    onFallback: ((reason: string) => void) | undefined,
  ) {
    this.#t = t;
    this.#entry = entry;
    this.#open = open;
    this.#reopen = reopen;
    this.#onFallback = onFallback ?? (() => {});
    this.description = path;
    const b = t.base(entry);
    const titleLength = t.cells[b + E_TITLE_LENGTH];
    if (titleLength >= 0) {
      this.title = new TextDecoder().decode(t.titleBytes(entry).subarray(0, titleLength));
    }
    this.#layout = layout;
    this.#leaderOwner = t.cells[b + E_OWNER];
    this.#ring = new Int32Array(t.rings[entry]);
    this.#ringBytes = new Uint8Array(t.rings[entry]);
    this.#ringAudio = new Int16Array(t.rings[entry]);
    this.#picture = new Uint8Array(layout.pictureBytes);
  }

  get counters(): ProducerCounters {
    const p = this.#private;
    if (!p) return this.#counters;
    const c = this.#counters;
    const q = p.counters;
    if (q.latencySamples.length) {
      c.latencySamples.push(...q.latencySamples);
      q.latencySamples.length = 0;
    }
    return {
      decoded: c.decoded + q.decoded,
      dropped: c.dropped + q.dropped,
      duplicated: c.duplicated + q.duplicated,
      decodeErrors: c.decodeErrors + q.decodeErrors,
      latencySamples: c.latencySamples,
      shared: (c.shared ?? 0) + (q.shared ?? 0),
    };
  }

  nextVideo(ctx: FrameContext): Uint8Array | undefined {
    if (this.#entry === undefined) return this.#privateVideo(ctx);
    const k = this.#video;
    const lost = this.#await(k);
    if (lost) {
      this.#fallBack(lost);
      return this.#privateVideo(ctx);
    }
    const started = performance.now();
    const cell = slotAt(this.#layout, k) / 4;
    const flags = this.#ring[cell + S_FLAGS];
    const length = this.#ring[cell + S_PICTURE_LENGTH];
    const counters = [
      this.#ring[cell + S_DECODED],
      this.#ring[cell + S_DROPPED],
      this.#ring[cell + S_DUPLICATED],
      this.#ring[cell + S_DECODE_ERRORS],
    ];
    const at = cell * 4 + SLOT_HEADER_BYTES;
    const picture = flags & F_PICTURE && !ctx.skipPicture;
    if (picture) this.#picture.set(this.#ringBytes.subarray(at, at + length));
    if (Atomics.load(this.#ring, cell + S_SEQ) !== k) {
      this.#fallBack(`frame ${k} was overwritten while it was read`);
      return this.#privateVideo(ctx);
    }
    this.#video = k + 1;
    const c = this.#counters;
    c.shared!++;
    [c.decoded, c.dropped, c.duplicated, c.decodeErrors] = counters;
    if (!(flags & F_PICTURE)) return undefined;
    if (picture) {
      this.#hasPicture = true;
      c.latencySamples.push((performance.now() - started) / 1000);
    }
    // Skipped: the place is kept; a later repeat shows the last picture copied.
    return this.#hasPicture ? this.#picture.subarray(0, length) : undefined;
  }

  nextAudio(samples: number): Int16Array {
    if (this.#entry === undefined) {
      return this.#private?.nextAudio(samples) ?? new Int16Array(0);
    }
    const ch = this.#layout.channels;
    const out = new Int16Array(samples * ch);
    let filled = 0;
    while (filled < samples && !this.#audioEnded) {
      const j = this.#audioSlot;
      const lost = this.#await(j);
      if (lost) {
        // Silence for the rest of this frame; the next picture falls back.
        this.#fallBack(lost);
        return out;
      }
      const cell = slotAt(this.#layout, j) / 4;
      const have = this.#ring[cell + S_SAMPLES];
      const ended = (this.#ring[cell + S_FLAGS] & F_AUDIO_ENDED) !== 0;
      const take = Math.min(samples - filled, have - this.#audioOffset);
      const from = (cell * 4 + this.#layout.audioAt) / 2 + this.#audioOffset * ch;
      out.set(this.#ringAudio.subarray(from, from + take * ch), filled * ch);
      if (Atomics.load(this.#ring, cell + S_SEQ) !== j) {
        this.#fallBack(`frame ${j} was overwritten while its audio was read`);
        return out;
      }
      filled += take;
      this.#audioOffset += take;
      if (this.#audioOffset >= have) {
        if (ended) this.#audioEnded = true;
        this.#audioSlot = j + 1;
        this.#audioOffset = 0;
      }
    }
    return this.#audioEnded ? out.subarray(0, filled * ch) : out;
  }

  /** Waits until slot `k` holds frame `k`; why it cannot, or undefined when it does. */
  #await(k: number): string | undefined {
    const cells = this.#t.cells;
    const b = this.#t.base(this.#entry!);
    let deadline: number | undefined;
    for (;;) {
      const written = Atomics.load(cells, b + E_WRITTEN);
      if (written > k) {
        if (written - k > this.#layout.slots - MARGIN_SLOTS) {
          return `fell ${written - k} frames behind`;
        }
        return undefined;
      }
      if (Atomics.load(cells, b + E_STATE) !== LEADING) {
        return `the leader ended at frame ${written}`;
      }
      if (this.#leaderOwner === this.#t.owner) return "the leader is this thread";
      const now = performance.now();
      deadline ??= now + MAX_WAIT_MS;
      if (now >= deadline) return `the leader wrote nothing for ${MAX_WAIT_MS} ms`;
      Atomics.wait(cells, b + E_WRITTEN, written, deadline - now);
    }
  }

  /** Leaves the ring; from the next picture on another producer takes over. */
  #fallBack(reason: string): void {
    this.#detach();
    this.#leftBecause = reason;
  }

  /** Nothing taken from the ring yet: the source can be opened anew from its first frame. */
  get #untouched(): boolean {
    return this.#video === 0 && this.#audioSlot === 0 && this.#audioOffset === 0;
  }

  #privateVideo(ctx: FrameContext): Uint8Array | undefined {
    if (!this.#private && !this.#privateFailed) {
      const from = this.#video;
      try {
        this.#private = this.#untouched ? this.#reopen() : this.#open(from);
        if (this.#shedding !== "none") this.#private.setShedding?.(this.#shedding);
        const now = this.#private instanceof SharedFollower
          ? "following another decode of it"
          : this.#private instanceof SharedLeader
          ? "leading a new shared decode of it"
          : "decoding it here";
        this.#reportLeaving(`${now} from frame ${from}`);
      } catch (err) {
        // The file went away since the leader opened it: the rest of the segment is fallback.
        this.#privateFailed = true;
        this.#counters.decodeErrors++;
        this.#reportLeaving(`cannot open the file here: ${(err as Error).message}`);
      }
    }
    return this.#private ? this.#private.nextVideo(ctx) : undefined;
  }

  #reportLeaving(then: string): void {
    const why = this.#leftBecause;
    this.#leftBecause = undefined;
    this.#onFallback(why === undefined ? then : `${why}; ${then}`);
  }

  #detach(): void {
    const e = this.#entry;
    if (e === undefined) return;
    this.#entry = undefined;
    Atomics.sub(this.#t.cells, this.#t.base(e) + E_REFS, 1);
    this.#t.release(e);
  }

  setShedding(level: ShedLevel): void {
    this.#shedding = level;
    this.#private?.setShedding?.(level);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#detach();
    // Left the ring during the last frame, closed before another producer took over.
    if (this.#leftBecause !== undefined) this.#reportLeaving("closed before decoding");
    this.#private?.close();
  }
}
