/**
 * How many FFmpeg threads one channel may use, from how many channels share how many cores.
 *
 * Every channel runs its own decoder and libx264 in its own Worker. Left alone, each would
 * start threads for the whole machine (x264 `threads=0` is 1.5 × cores frame threads plus a
 * lookahead thread, the H.264 decoder cores + 1 frame threads), so N channels run about
 * 4·N·cores threads on `cores` cores: frame threads that wait on each other, cache thrash and
 * every frame's latency stretched by the scheduler. The policy keeps the total near the core
 * count instead:
 *
 * - as many channels as cores or more: one thread each for the decoder and the encoder. The
 *   cores are kept busy by the channels themselves, and single-threaded x264 and decoding are
 *   the most efficient per frame (no frame-thread synchronisation, no extra frames in flight,
 *   less memory). A channel that keeps up on a share of a core keeps up on a whole one.
 * - fewer channels than cores: the spare cores go to the channels' encoders (frame threads) and
 *   decoders, so one channel is not limited by one core.
 *
 * @module
 */

/** FFmpeg threads of one channel. */
export interface ChannelThreads {
  /** libx264 frame threads (the encoder's `threads`); lookahead follows x264's own rule. */
  encoder: number;
  /** Video decoder threads (frame threads for H.264/HEVC). Audio always decodes on one. */
  decoder: number;
}

/** Most encoder threads one channel gets (x264 gains little beyond this at SD/HD sizes). */
const MAX_ENCODER_THREADS = 8;
/** Most decoder threads one channel gets. */
const MAX_DECODER_THREADS = 4;

/**
 * Threads for each of `channels` channels on `cores` cores (see the module doc). Both counts
 * are clamped to at least 1.
 */
export function channelThreads(channels: number, cores: number): ChannelThreads {
  const n = Math.max(1, Math.floor(channels) || 1);
  const c = Math.max(1, Math.floor(cores) || 1);
  if (n >= c) return { encoder: 1, decoder: 1 };
  const share = c / n;
  return {
    encoder: Math.min(MAX_ENCODER_THREADS, Math.max(2, Math.round(share))),
    decoder: Math.min(MAX_DECODER_THREADS, Math.max(1, Math.floor(share))),
  };
}

/** Cores this process may run on (the scheduler's view; at least 1). */
export function availableCores(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/**
 * Decoder threads of a channel that leads a shared source (producers/shared_source.ts): its
 * decode feeds every channel following it, and they wait for it, so it gets a thread per core
 * (at most {@link MAX_DECODER_THREADS}) whatever its share as a channel.
 */
export function sharedDecodeThreads(threads: ChannelThreads, cores: number): number {
  const c = Math.max(1, Math.floor(cores) || 1);
  return Math.max(threads.decoder, Math.min(MAX_DECODER_THREADS, c));
}
