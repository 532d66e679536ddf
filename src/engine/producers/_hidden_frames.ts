/**
 * Decode skipping for frame-rate down-conversion (60 → 30, 50 → 25, 59.94 → 29.97): tells, for
 * each video packet before it is decoded, whether the timeline will ever show its picture, so
 * the decoder can skip the ones nobody will see (`skip_frame` = non-reference: a frame no
 * other frame is predicted from can be left out without changing any other picture).
 *
 * The timeline shows, for output frame k, the last source picture whose timestamp is at or
 * before `origin + (k + ½)·d`. A picture with timestamp p is shown iff some such instant lies
 * in [p, p'), p' being the timestamp of the next picture in presentation order. p' is known
 * exactly once the packets read so far include it and reach a decode timestamp at or past it
 * (every later packet presents at or after its own decode time), so packets are held back
 * until then — a few packets of B-frame reordering. A picture is only called hidden on exact
 * timestamps; anything unsure (no timestamp, too long a wait) is decoded, and so is everything
 * after a timestamp jump (the producer re-anchors such streams on what it decodes).
 * Skipping only hidden pictures leaves every shown picture as it was.
 *
 * @module
 */

import type { Packet } from "../../../ffi/mod.ts";

/** Packets held at most while waiting for the next picture's timestamp. */
const MAX_HELD = 16;
/** Timestamps of sent packets remembered (longer than any reorder window). */
const RECENT = 32;
/** A timestamp this far from the previous one is a discontinuity: nothing is skipped there. */
const JUMP_SECONDS = 2;

/** Options of a {@link HiddenFrameSkipper}. */
export interface HiddenFrameSkipperOptions {
  /** Source time (s) of output frame 0. */
  origin: number;
  /** Output frame duration (s). */
  frameDuration: number;
  /** Takes each packet in decode order, told whether its picture is hidden. Owns the packet. */
  send: (packet: Packet, hidden: boolean) => void;
}

/** Holds video packets just long enough to know whether their pictures will be shown. */
export class HiddenFrameSkipper {
  readonly #origin: number;
  readonly #frameDuration: number;
  readonly #send: (packet: Packet, hidden: boolean) => void;
  #held: Packet[] = [];
  #recent: number[] = [];
  #maxDts = -Infinity;
  #lastPts: number | undefined;
  #jumped = false;

  constructor(opts: HiddenFrameSkipperOptions) {
    this.#origin = opts.origin;
    this.#frameDuration = opts.frameDuration;
    this.#send = opts.send;
  }

  /** Takes a video packet (ownership passes) and sends what can be decided. */
  push(packet: Packet): void {
    const dts = packet.dts === undefined
      ? packet.ptsSeconds
      : (packet.dts * packet.timeBase.num) / packet.timeBase.den;
    if (dts !== undefined && dts > this.#maxDts) this.#maxDts = dts;
    this.#held.push(packet);
    this.#release(false);
  }

  /** End of input: sends every held packet. */
  flush(): void {
    this.#release(true);
  }

  /** Frees held packets. */
  close(): void {
    for (const p of this.#held.splice(0)) p.free();
  }

  #release(eof: boolean): void {
    while (this.#held.length > 0) {
      const head = this.#held[0];
      const p = head.ptsSeconds;
      let hidden = false;
      if (p !== undefined && this.#continuous(p)) {
        const next = this.#nextPts(p);
        if (eof || next <= this.#maxDts) hidden = !this.#shown(p, next);
        else if (this.#held.length < MAX_HELD) return; // not known yet: wait for packets
      }
      this.#held.shift();
      if (p !== undefined) {
        this.#lastPts = p;
        this.#recent.push(p);
        if (this.#recent.length > RECENT) this.#recent.shift();
      }
      this.#send(head, hidden);
    }
  }

  /** False from the first timestamp jump on: the producer may re-anchor what follows. */
  #continuous(p: number): boolean {
    if (this.#lastPts !== undefined && Math.abs(p - this.#lastPts) > JUMP_SECONDS) {
      this.#jumped = true;
    }
    return !this.#jumped;
  }

  /** Smallest known timestamp after `p` (Infinity when none). */
  #nextPts(p: number): number {
    let next = Infinity;
    for (let i = 1; i < this.#held.length; i++) {
      const s = this.#held[i].ptsSeconds;
      if (s !== undefined && s > p && s < next) next = s;
    }
    for (const s of this.#recent) if (s > p && s < next) next = s;
    return next;
  }

  /** Whether an output instant (the timeline's own arithmetic) lies in [p, next). */
  #shown(p: number, next: number): boolean {
    const at = (k: number) => this.#origin + (k + 0.5) * this.#frameDuration;
    let k = Math.max(0, Math.ceil((p - this.#origin) / this.#frameDuration - 0.5));
    while (k > 0 && at(k - 1) >= p) k--;
    while (at(k) < p) k++;
    return at(k) < next;
  }
}
