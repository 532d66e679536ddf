/**
 * How much picture work a channel can afford per tick. It keeps running averages of what a
 * frame costs on the channel's own clock — making it (decode, scale) and releasing it
 * (encode, mux) — with and without a new picture, and picks a decimation d ≥ 1, not
 * necessarily whole: one frame in d gets a new picture (d = 1.25: four in five), the others
 * repeat it with their own audio, so a channel a little short of the CPU it needs sheds a
 * little, not every other picture. d rises to what the costs say is needed when pictures cost
 * more than the frame budget while the channel's lead has drained below half (a lead that
 * holds means production still keeps up: a busy machine's passing contention is absorbed by
 * the lead, not shed), by at most a tenth a frame and only while the lead keeps draining, so
 * that it stops once the lead does (at once when no lead is left and half the pictures must
 * go). It falls back a step a second while the costs say less is needed (by one above 2,
 * below it by a tenth more of the frames getting pictures, down to 1) or the lead stays full
 * (by a fifth more of the frames at any d: on a busy machine a picture's cost on the clock
 * includes waiting for the CPU, and only the lead tells whether fewer frames without pictures
 * would still keep up).
 *
 * @module
 */

/** Share of a frame's duration the channel may spend on it. */
const BUDGET = 0.85;
/** Weight of a new sample in the running averages. */
const ALPHA = 0.1;
/** Frames whose cost is not even measured at start. */
const SKIP_FIRST = 3;
/** Frames whose cost is not judged at start. */
const WARMUP_FRAMES = 5;
/** Most frames sharing one picture. */
const MAX_DECIMATION = 60;
/** Most the decimation grows in one frame (1 → 2 in 8 frames, → 60 in 43). */
const RISE_PER_FRAME = 1.1;
/**
 * Share of the frames that gain a picture at each step back below a decimation of 2 (1/2 →
 * 1/1.67 → … → 1 in five steps); twice that at any decimation while the lead is full (1/9 →
 * 1/3.3, 1/2 → 1/1.43 → 1/1.11 → 1).
 */
const RECOVER_STEP = 0.1;

/** Picks which frames get a new picture. */
export class DeadlinePacer {
  readonly #frameMs: number;
  readonly #warmup: number;
  readonly #stepDown: number;
  #samples = 0;
  #producedCount = 0;
  #releasedCount = 0;
  #producePicture = 0;
  #produceHeld = 0;
  #releasePicture = 0;
  #releaseHeld = 0;
  #d = 1;
  #framesSinceLower = 0;
  readonly #leadFrames: number;
  /** The lead when the decimation last rose, while behind (Infinity: not behind). */
  #leadAtRise = Infinity;
  /** When the decimation last rose (clock ms). */
  #roseAt = -Infinity;
  /** The lead at each of the last second's releases, oldest first. */
  #leads: number[] = [];
  /** Consecutive releases with no lead. */
  #emptyFrames = 0;

  /**
   * @param frameMs duration of one output frame.
   * @param leadFrames frames the channel produces ahead of the clock when it keeps up.
   */
  constructor(frameMs = 40, leadFrames = 12) {
    this.#frameMs = frameMs;
    this.#leadFrames = leadFrames;
    // The very first frames (encoder start-up) say nothing about steady cost; a second
    // without need passes before each step back down.
    this.#warmup = WARMUP_FRAMES;
    this.#stepDown = Math.ceil(1000 / frameMs);
  }

  /** Frames per new picture now (1: every frame has its own; 1.25: four in five). */
  get decimation(): number {
    return this.#d;
  }

  /** Average cost of a frame with a new picture (make + release), ms. */
  get pictureCostMs(): number {
    return this.#producePicture + this.#releasePicture;
  }

  /** Expected cost of making the next frame, ms. */
  get produceCostMs(): number {
    return this.#producePicture;
  }

  /**
   * Whether output frame `k` should get a new picture: those where k / d passes a whole number
   * (for a whole d, every d-th frame), spread evenly.
   */
  wantsPicture(k: number): boolean {
    const d = this.#d;
    return d === 1 || Math.floor(k / d) !== Math.floor((k - 1) / d);
  }

  /** A frame was made (with or without a picture) in `ms`. */
  produced(picture: boolean, ms: number): void {
    // The first frames open the first file and start the decoders: not a steady cost.
    if (++this.#producedCount <= SKIP_FIRST) return;
    if (picture) this.#producePicture = ewma(this.#producePicture, ms);
    else this.#produceHeld = ewma(this.#produceHeld, ms);
  }

  /**
   * A frame was released (new picture or repeat) in `ms`, with `lead` frames produced ahead,
   * at `now` (ms on the channel's clock); may change the decimation.
   */
  released(held: boolean, ms: number, lead: number, now: number): void {
    // The first encodes set the encoder up: not a steady cost.
    if (++this.#releasedCount <= SKIP_FIRST) return;
    if (held) this.#releaseHeld = ewma(this.#releaseHeld, ms);
    else this.#releasePicture = ewma(this.#releasePicture, ms);
    if (++this.#samples <= this.#warmup) return;
    const behind = lead < this.#leadFrames / 2;
    // Production ahead of the clock: the lead is (nearly) full.
    const full = lead >= (this.#leadFrames * 3) / 4;
    if (!behind) this.#leadAtRise = Infinity;
    this.#leads.push(lead);
    if (this.#leads.length > this.#stepDown) this.#leads.shift();
    this.#emptyFrames = lead === 0 ? this.#emptyFrames + 1 : 0;
    // Draining: less lead than a second ago, or none for a whole second (a lead that is
    // building up, as after a start or a stall, is not a reason to shed).
    const draining = lead < this.#leads[0] || this.#emptyFrames >= this.#stepDown;
    const need = this.#needed();
    if (behind && need > this.#d && (draining || (lead === 0 && need >= 2))) {
      // With no lead left (every frame made as it is due) and half the pictures or more to
      // shed, to what the costs say at once. Otherwise towards it, a tenth a frame, and only
      // while the lead keeps draining: shedding stops growing once it is enough (the costs of
      // a hiccup, or of a busy machine, overstate what is needed). Once per frame of clock
      // time: frames released in a burst after a stall are one sign, not several.
      if (lead > this.#leadAtRise || now - this.#roseAt < this.#frameMs) return;
      this.#leadAtRise = lead;
      this.#roseAt = now;
      this.#d = lead === 0 && need >= 2 ? need : Math.min(need, this.#d * RISE_PER_FRAME);
      this.#framesSinceLower = 0;
      return;
    }
    if (this.#d === 1 || !(need < this.#d || full)) return;
    if (++this.#framesSinceLower < this.#stepDown) return;
    this.#framesSinceLower = 0;
    // A full lead says fewer frames without pictures still keep up (twice the step); otherwise
    // the costs say how far down.
    const byShare = 1 / (1 / this.#d + (full ? 2 : 1) * RECOVER_STEP);
    const next = full ? byShare : Math.max(need, this.#d > 2 ? this.#d - 1 : byShare);
    this.#d = next < 1.02 ? 1 : next;
  }

  /**
   * Least d with picture + (d − 1) · held ≤ d · budget. When a frame without a picture is
   * over budget too (the machine is starved), no d keeps up: the pictures' own share is kept.
   */
  #needed(): number {
    const budget = this.#frameMs * BUDGET;
    const picture = this.pictureCostMs;
    if (picture <= budget) return 1;
    const held = this.#produceHeld + this.#releaseHeld;
    const d = held >= budget * 0.9 ? picture / budget : (picture - held) / (budget - held);
    return Math.min(MAX_DECIMATION, Math.max(1, d));
  }
}

/**
 * Running average; a sample more than four times the average counts as four times (plus
 * 1 ms): a lasting rise still shows within a few frames, one stall barely moves it.
 */
function ewma(avg: number, sample: number): number {
  if (avg === 0) return sample;
  return avg + ALPHA * (Math.min(sample, 4 * avg + 1) - avg);
}
