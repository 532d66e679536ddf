/**
 * Black and silence.
 *
 * @module
 */

import { i420Size } from "../../../media/program_frame.ts";
import type { ProgramFormat } from "../../../media/program_format.ts";
import { type FrameContext, newProducerCounters, type Producer } from "./producer.ts";

/** A black I420 picture (Y=16, U=V=128: limited-range black). */
export function blackI420(width: number, height: number): Uint8Array {
  const buf = new Uint8Array(i420Size(width, height));
  buf.fill(16, 0, width * height);
  buf.fill(128, width * height);
  return buf;
}

/** Produces black pictures and silence forever. */
export class PadProducer implements Producer {
  readonly description = "pad";
  readonly counters = newProducerCounters();
  #black: Uint8Array;
  #channels: number;

  constructor(format: ProgramFormat) {
    this.#black = blackI420(format.width, format.height);
    this.#channels = format.channels;
  }

  nextVideo(_ctx: FrameContext): Uint8Array {
    return this.#black;
  }

  nextAudio(samples: number): Int16Array {
    return new Int16Array(samples * this.#channels);
  }

  close(): void {}
}
