/**
 * How much picture work a channel can afford per tick. It keeps running averages of what a
 * frame costs on the channel's own clock — making it (decode, scale) and releasing it
 * (encode, mux) — with and without a new picture, and picks a decimation d: one frame in d
 * gets a new picture, the others repeat it with their own audio. d rises when pictures cost
 * more than the frame budget while the channel's lead has drained below half (a lead that
 * holds means production still keeps up: a busy machine's passing contention is absorbed by
 * the lead, not shed), and falls back one step a second when they stop.
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

  /** @param frameMs duration of one output frame. */
  constructor(frameMs = 40) {
    this.#frameMs = frameMs;
    // The very first frames (encoder start-up) say nothing about steady cost; a second
    // without need passes before each step back down.
    this.#warmup = WARMUP_FRAMES;
    this.#stepDown = Math.ceil(1000 / frameMs);
  }

  /** Frames per new picture now (1: every frame has its own). */
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

  /** Whether output frame `k` should get a new picture. */
  wantsPicture(k: number): boolean {
    return this.#d === 1 || k % this.#d === 0;
  }

  /** A frame was made (with or without a picture) in `ms`. */
  produced(picture: boolean, ms: number): void {
    // The first frames open the first file and start the decoders: not a steady cost.
    if (++this.#producedCount <= SKIP_FIRST) return;
    if (picture) this.#producePicture = ewma(this.#producePicture, ms);
    else this.#produceHeld = ewma(this.#produceHeld, ms);
  }

  /**
   * A frame was released (new picture or repeat) in `ms`; may change the decimation.
   * `behind`: the frames produced ahead have fallen below half the channel's lead.
   */
  released(held: boolean, ms: number, behind: boolean): void {
    // The first encodes set the encoder up: not a steady cost.
    if (++this.#releasedCount <= SKIP_FIRST) return;
    if (held) this.#releaseHeld = ewma(this.#releaseHeld, ms);
    else this.#releasePicture = ewma(this.#releasePicture, ms);
    if (++this.#samples <= this.#warmup) return;
    const need = this.#needed();
    if (need > this.#d) {
      if (!behind) return;
      this.#d = need;
      this.#framesSinceLower = 0;
    } else if (need < this.#d && ++this.#framesSinceLower >= this.#stepDown) {
      this.#d--;
      this.#framesSinceLower = 0;
    }
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
    const d = held >= budget * 0.9
      ? Math.ceil(picture / budget)
      : Math.ceil((picture - held) / (budget - held));
    return Math.min(MAX_DECIMATION, d);
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
