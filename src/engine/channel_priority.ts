/**
 * CPU precedence of one channel's threads: its Worker thread and every FFmpeg/x264 thread the
 * Worker started. All run at {@link CHANNEL_NICE}, so the main thread (gRPC, HTTP viewers,
 * metrics) runs as soon as it wakes. A channel that cannot keep up (degraded) while it takes
 * the CPU from the others — its threads use at least {@link HOG_CORE_SHARE} of a core and more
 * than {@link HOG_OVER_SHARE} times its fair share of the machine (cores / channels), or its
 * pictures cost so much CPU that airing all of them would need that much — drops to
 * {@link DEGRADED_NICE}, so the channels that do keep up get the CPU first and the degraded one
 * takes what they leave. It sheds work to match (fewer pictures, a faster encoder), and is put
 * back when it recovers. A channel degraded because others (channels or processes) starve it
 * spends little CPU per picture and keeps its priority: lowering it would only make it worse.
 * So does one among equals on a full machine (every channel needing about its share): lowering
 * some of them would only hand their share to the others.
 *
 * The threads are found by name: the Worker names its own thread `rv-ch-<id>` before FFmpeg
 * starts any, and Linux threads inherit their creator's name and nice value, so the channel's
 * threads are exactly those named so (`/proc/self/task/<tid>/comm`) — threads started while
 * degraded inherit the lower priority too. Linux only: elsewhere (Windows, macOS) priorities
 * are left as they are and {@link ChannelPriority.available} is false; the channel still sheds
 * work when degraded. Raising a priority back needs `RLIMIT_NICE` (the systemd unit sets
 * `LimitNICE=+4`); refused, the channel stays at the lower priority and says so in a log line.
 *
 * @module
 */

import { type ProcessControls, processControls, threadStat } from "../../ffi/process.ts";

/** Nice value of channel threads (0 normal; 19 lowest). */
export const CHANNEL_NICE = 4;
/**
 * Nice value of a degraded channel's threads. Against a channel at {@link CHANNEL_NICE} the
 * scheduler weighs it about 1 : 4 (nice 10 ≈ 110, nice 4 ≈ 423); its own remaining work
 * (audio, a few pictures a second) still gets a share when the box is busy with other processes.
 */
export const DEGRADED_NICE = 10;
/**
 * CPU, in cores, a degraded channel's threads must have used over the last second for it to
 * be lowered (a light channel at SD uses a few hundredths; one that cannot keep up uses all
 * it gets).
 */
export const HOG_CORE_SHARE = 0.5;

/** Names of channel threads start so (then the channel id). */
const CHANNEL_THREAD_PREFIX = "rv-ch-";

/**
 * Cores a degraded channel taking the CPU would need to give every frame its picture, at what
 * its pictures cost in CPU (a light SD channel needs a few hundredths, 1080p60 x264 several).
 */
export const HOG_DEMAND_CORES = 0.75;

/**
 * How many times its fair share of the machine a degraded channel must use, or need, to count
 * as taking the CPU from the others. Equal channels on a full machine each need about 1, but
 * the demand measured while shedding overstates it (the CPU of frames without a picture —
 * audio, decoding — is counted on the pictures aired): measured up to 2.3 for 480p channels
 * shedding 1 picture in 2; a 1080p60 x264 `slow` channel needs tens.
 */
export const HOG_OVER_SHARE = 3;

/** What a channel has aired, for {@link ChannelPriority.observe}. */
export interface ChannelOutput {
  /** Whether it is degraded now. */
  degraded: boolean;
  /** Pictures aired so far (frames out less repeats). */
  pictures: number;
  /** Its frame rate, frames per second. */
  frameRate: number;
}

/** How a {@link ChannelPriority} judges (defaults in brackets). */
export interface PriorityJudging {
  /** Observations (seconds) after start during which it is never lowered: start-up [5]. */
  warmup: number;
  /** Consecutive observations it must be found taking the CPU [3]. */
  streak: number;
  /**
   * Cores that are this channel's fair share of the machine: cores / channels sharing it
   * [0: no share known, the thresholds alone decide].
   */
  shareCores: number;
}

/** What a {@link ChannelPriority} reports (for logs). */
export type PriorityReport = (
  level: "info" | "warn",
  event: "channel_priority_unchanged" | "channel_priority_changed",
  fields: Record<string, unknown>,
) => void;

/** The priority of one channel's threads. Create it on the channel's Worker thread. */
export class ChannelPriority {
  /** Name of this channel's threads. */
  readonly threadName: string;
  readonly #report: PriorityReport;
  #controls: ProcessControls | undefined;
  #lowered = false;
  /** CPU seconds of each thread at the previous {@link observe}, and when that was. */
  #cpu = new Map<number, number>();
  #cpuAt = -Infinity;
  /** Consecutive observations that found the channel degraded and taking the CPU. */
  #hogStreak = 0;
  #observed = 0;
  #pictures = 0;
  readonly #judging: PriorityJudging;

  /**
   * Names the calling thread after channel `channelId` and sets it to {@link CHANNEL_NICE}
   * (call before FFmpeg opens anything, so its threads inherit both).
   */
  constructor(
    channelId: number | string,
    report: PriorityReport,
    judging: Partial<PriorityJudging> = {},
  ) {
    this.#judging = { warmup: 5, streak: 3, shareCores: 0, ...judging };
    this.threadName = `${CHANNEL_THREAD_PREFIX}${channelId}`.slice(0, 15);
    this.#report = report;
    try {
      const c = processControls();
      c.setThreadName(this.threadName);
      c.setThreadNice(CHANNEL_NICE);
      this.#controls = c;
    } catch (err) {
      report("warn", "channel_priority_unchanged", {
        nice: CHANNEL_NICE,
        reason: (err as Error).message,
      });
    }
  }

  /** Whether priorities can be changed on this platform. */
  get available(): boolean {
    return this.#controls !== undefined;
  }

  /** Ids of this channel's threads now (empty where priorities are unavailable). */
  threads(): number[] {
    return this.#controls?.threadsNamed(this.threadName) ?? [];
  }

  /**
   * Judges the channel (call about once a second) from its state and its output so far. It is
   * lowered while it is degraded and takes the CPU — in each of the last
   * {@link PriorityJudging.streak} observations (after the start-up
   * {@link PriorityJudging.warmup}) its threads either used at least `hogShare` cores, or spent
   * so much CPU per picture aired that every frame's picture would need
   * {@link HOG_DEMAND_CORES} or more, and either is more than {@link HOG_OVER_SHARE} times its
   * fair share (CPU time, not wall time: this holds however much else loads the box, and a
   * channel starved by others spends little per picture). Restored once it is no longer
   * degraded; lowered, it stays so while degraded.
   */
  observe(o: ChannelOutput, hogShare = HOG_CORE_SHARE): void {
    if (!this.#controls) return;
    this.#observed++;
    const now = performance.now();
    const mine: number[] = [];
    let own = 0;
    const cpu = new Map<number, number>();
    for (const tid of this.#controls.threadsNamed(this.threadName)) {
      const t = threadStat(tid)?.cpuSeconds;
      if (t === undefined) continue;
      cpu.set(tid, t);
      mine.push(tid);
      own += Math.max(0, t - (this.#cpu.get(tid) ?? t));
    }
    const wall = (now - this.#cpuAt) / 1000;
    const pictures = o.pictures - this.#pictures;
    this.#cpu = cpu;
    this.#cpuAt = now;
    this.#pictures = o.pictures;
    if (!o.degraded) {
      this.#hogStreak = 0;
      this.#set(false, mine, 0, 0);
      return;
    }
    if (!(wall > 0) || !Number.isFinite(wall)) return;
    const share = own / wall;
    /** Cores every frame's picture would take at what the aired ones cost. */
    const demand = pictures > 0 ? (own / pictures) * o.frameRate : 0;
    const over = HOG_OVER_SHARE * this.#judging.shareCores;
    const hog = share >= Math.max(hogShare, over) || demand >= Math.max(HOG_DEMAND_CORES, over);
    this.#hogStreak = hog ? this.#hogStreak + 1 : 0;
    if (this.#hogStreak >= this.#judging.streak && this.#observed > this.#judging.warmup) {
      this.#set(true, mine, share, demand);
    }
  }

  /** Whether the channel's threads are lowered now. */
  get lowered(): boolean {
    return this.#lowered;
  }

  #set(lowered: boolean, tids: number[], share: number, demand: number): void {
    if (lowered === this.#lowered || !this.#controls) return;
    this.#lowered = lowered;
    const nice = lowered ? DEGRADED_NICE : CHANNEL_NICE;
    try {
      const n = this.#controls.setThreadsNice(tids, nice);
      this.#report("info", "channel_priority_changed", {
        nice,
        threads: n,
        degraded: lowered,
        cpu_cores: Math.round(share * 100) / 100,
        demand_cores: Math.round(demand * 100) / 100,
      });
    } catch (err) {
      this.#report("warn", "channel_priority_unchanged", {
        nice,
        degraded: lowered,
        reason: (err as Error).message,
      });
    }
  }
}
