/**
 * A producer whose first picture was decoded ahead (LoadPreview's shadow decode): it hands
 * that picture out first, then continues with the producer it wraps.
 *
 * @module
 */

import type { FrameContext, Producer, ProducerCounters } from "./producer.ts";

/** Replays a picture decoded ahead, then the wrapped producer's own. */
export class PrimedProducer implements Producer {
  readonly description: string;
  readonly title?: string;
  #inner: Producer;
  #first: Uint8Array | undefined;

  /** `first` is copied (the wrapped producer may reuse its buffer). */
  constructor(inner: Producer, first: Uint8Array) {
    this.#inner = inner;
    this.#first = first.slice();
    this.description = inner.description;
    this.title = inner.title;
  }

  get counters(): ProducerCounters {
    return this.#inner.counters;
  }

  nextVideo(ctx: FrameContext): Uint8Array | undefined {
    const first = this.#first;
    if (first) {
      this.#first = undefined;
      return first;
    }
    return this.#inner.nextVideo(ctx);
  }

  nextAudio(samples: number): Int16Array {
    return this.#inner.nextAudio(samples);
  }

  close(): void {
    this.#first = undefined;
    this.#inner.close();
  }
}
