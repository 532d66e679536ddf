/**
 * How the C library's heap serves the engine: every allocation of
 * {@link HEAP_MAP_THRESHOLD_BYTES} or more gets its own mapping, given back to the system when
 * it is freed.
 *
 * Left to glibc's default, that threshold starts at 128 KiB and rises to the size of each
 * mapped block freed, up to 32 MiB: after the first decoded 1080p picture or frame pool is
 * freed, such buffers come from the heap of the thread that allocates them, and a heap keeps
 * what is freed (fragments between live blocks cannot be returned). Each channel Worker's
 * heap then grows to its largest moment — a segment boundary, where the next item's decoder
 * opens while the last one still runs — and stays there. Measured on the bench's 480p30
 * channels (bench/README.md, "Memory past a segment boundary"): three channels held 417 MB
 * after their first boundary with glibc's default and 359 MB with the fixed threshold, one
 * channel 249 and 236, at the same CPU. FFmpeg pools its frame buffers, so the mappings are
 * made rarely (a pool's growth, a keyframe's packet), not per frame.
 *
 * Linux with glibc only; elsewhere, or refused, the engine runs with the C library's default
 * and says why in one `heap_policy` log line.
 *
 * @module
 */

import { processControls } from "../ffi/process.ts";
import type { Logger } from "./log/log.ts";

/**
 * Allocations at least this large are mapped on their own: pictures, frame pools, a keyframe's
 * packet. The many small ones stay in the heaps.
 */
export const HEAP_MAP_THRESHOLD_BYTES = 256 << 10;

/** Applies the heap policy for the whole process; logs the outcome. Call at start-up. */
export function limitHeapRetention(log: Logger): void {
  try {
    processControls().setHeapMapThreshold(HEAP_MAP_THRESHOLD_BYTES);
  } catch (err) {
    log.info("heap_policy", { policy: "default", reason: (err as Error).message });
    return;
  }
  log.info("heap_policy", { policy: "mapped", map_threshold_bytes: HEAP_MAP_THRESHOLD_BYTES });
}
