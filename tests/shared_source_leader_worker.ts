/**
 * Worker for tests/engine_shared_source_test.ts: leads a shared source from another thread, as
 * a channel worker does, producing `frames` frames `paceMs` apart, then closes it.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { FileProducer } from "../src/engine/producers/file_producer.ts";
import {
  openSharedSource,
  type SharedSourceBuffers,
  useSharedSources,
} from "../src/engine/producers/shared_source.ts";
import type { ProgramFormat } from "../media/program_format.ts";

interface Lead {
  buffers: SharedSourceBuffers;
  path: string;
  format: ProgramFormat;
  frames: number;
  paceMs: number;
}

self.onmessage = async (e: MessageEvent<Lead>) => {
  const { buffers, path, format, frames, paceMs } = e.data;
  useSharedSources(buffers, 2);
  let led = false;
  const producer = openSharedSource(
    { path, inPointSeconds: 0, format, options: { skipLoopFilter: "auto" } },
    (skipFrames, leading) => {
      led = leading === true;
      return new FileProducer(path, format, { inPointSeconds: skipFrames / 30, threads: 1 });
    },
  );
  self.postMessage(led ? "leading" : "not leading");
  for (let k = 0; k < frames; k++) {
    producer.nextVideo({ frameNumber: k, dueUtcMs: 0 });
    producer.nextAudio(1600);
    await new Promise((r) => setTimeout(r, paceMs));
  }
  producer.close();
};
