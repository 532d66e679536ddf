/**
 * Incremental MPEG-TS analyzer: feed it bytes in any chunking, read a summary at any time.
 * Used by tests to judge output and at run time as a cheap self-check of a channel's stream.
 *
 * What it measures, per PID: packets, continuity-counter errors, PCR values and intervals,
 * PES PTS/DTS with step statistics, random-access (keyframe) positions; and for the stream:
 * PAT/PMT repetition intervals, program map (stream types), sync losses.
 *
 * Timing of PAT/PMT packets is taken from the PCR timeline: each PAT/PMT packet's time is
 * interpolated linearly by byte position between the PCRs (of the program's PCR PID) before
 * and after it — the arrival time a constant-rate receiver would see. Packets before the
 * first PCR are timed by extrapolating the first PCR interval backwards; packets after the
 * last PCR are not timed until the next PCR arrives.
 *
 * ```ts
 * const summary = analyzeTs(await Deno.readFile("out.ts"));
 * console.log(summary.ccErrors, summary.pcr.intervalMaxMs, summary.pat.intervalMaxMs);
 * ```
 *
 * @module
 */

/** Size of one TS packet. */
export const TS_PACKET_SIZE = 188;
/** Sync byte at the start of each TS packet. */
export const TS_SYNC_BYTE = 0x47;
/** PID of the Program Association Table. */
export const PAT_PID = 0;
/** PID of null (stuffing) packets. */
export const NULL_PID = 0x1fff;

/** PCR clock ticks per millisecond (27 MHz). */
const PCR_TICKS_PER_MS = 27_000;
/** PCR wraps at 2^33 * 300 ticks. */
const PCR_WRAP = 2 ** 33 * 300;
/** Most PAT/PMT starts kept waiting for a PCR. */
const MAX_PENDING_TABLES = 4096;
/** PTS/DTS wrap at 2^33. */
const PTS_WRAP = 2 ** 33;

/** Stream types (ISO 13818-1 table 2-34 and common registrations) that carry video. */
const VIDEO_STREAM_TYPES: ReadonlySet<number> = new Set([
  0x01, // MPEG-1 video
  0x02, // MPEG-2 video
  0x10, // MPEG-4 part 2
  0x1b, // H.264
  0x24, // HEVC
  0x42, // AVS
  0xd1, // Dirac
  0xea, // VC-1
]);

/** True when `streamType` (from a PMT) is a video stream type. */
export function isVideoStreamType(streamType: number): boolean {
  return VIDEO_STREAM_TYPES.has(streamType);
}

/** Statistics of consecutive differences of a 90 kHz timestamp series. */
export interface StepStats {
  /** Values seen. */
  count: number;
  /** First value (90 kHz), or undefined when none. */
  first: number | undefined;
  /** Last value (90 kHz), or undefined when none. */
  last: number | undefined;
  /** Smallest step between consecutive values (90 kHz ticks; wrap-aware), or undefined. */
  minStep: number | undefined;
  /** Largest step between consecutive values (90 kHz ticks; wrap-aware), or undefined. */
  maxStep: number | undefined;
  /** Steps that were zero or negative. */
  nonMonotonic: number;
  /** All values in arrival order (only when the analyzer records values). */
  values: number[];
}

/** PCR statistics of one PID. */
export interface PcrStats {
  /** PCRs seen. */
  count: number;
  /** Largest interval between consecutive PCRs, ms (0 when fewer than two). */
  intervalMaxMs: number;
  /** Mean interval between consecutive PCRs, ms (0 when fewer than two). */
  intervalMeanMs: number;
  /** Intervals longer than the analyzer's `pcrGapMs`, or going backwards. */
  gaps: number;
  /** All PCR values (27 MHz ticks) in arrival order (only when recording values). */
  values: number[];
}

/** What the analyzer found on one PID. */
export interface PidSummary {
  /** The PID. */
  pid: number;
  /** Packets on this PID. */
  packets: number;
  /** Continuity-counter errors (jumps, repeated duplicates, adaptation-only increments). */
  ccErrors: number;
  /** Packets with the discontinuity indicator set. */
  discontinuities: number;
  /** Duplicate packets (same CC repeated once, allowed). */
  duplicates: number;
  /** PCRs carried on this PID. */
  pcr: PcrStats;
  /** PES packets started on this PID. */
  pesCount: number;
  /** PES presentation timestamps. */
  pts: StepStats;
  /** PES decoding timestamps (the PTS when a PES carries no DTS). */
  dts: StepStats;
  /** Packets with the random access indicator set. */
  randomAccessCount: number;
  /** Byte offsets of packets with the random access indicator (only when recording values). */
  randomAccessOffsets: number[];
  /** Stream type from the PMT, when this PID is an elementary stream. */
  streamType: number | undefined;
}

/** One elementary stream of a program. */
export interface ProgramStream {
  /** Elementary PID. */
  pid: number;
  /** `stream_type` from the PMT. */
  streamType: number;
}

/** One program as the latest PAT and PMT describe it. */
export interface ProgramInfo {
  /** `program_number`. */
  programNumber: number;
  /** PID of its PMT. */
  pmtPid: number;
  /** PCR PID from the PMT (undefined until the PMT is seen). */
  pcrPid: number | undefined;
  /** Elementary streams from the PMT. */
  streams: ProgramStream[];
}

/** Repetition statistics of a PSI table (PAT or PMT). */
export interface TableStats {
  /** Section starts seen. */
  count: number;
  /** Largest interval between consecutive section starts on the PCR timeline, ms. */
  intervalMaxMs: number;
  /** Section starts that could be placed on the PCR timeline (see module docs). */
  timed: number;
}

/** Everything the analyzer found so far. */
export interface TsSummary {
  /** Bytes fed. */
  bytes: number;
  /** Whole packets parsed. */
  packets: number;
  /** Times the parser lost 0x47 sync and had to search for it. */
  syncLosses: number;
  /** Bytes skipped while searching for sync. */
  bytesSkipped: number;
  /** Packets with the transport error indicator set. */
  transportErrors: number;
  /** PSI sections whose CRC32 did not match. */
  crcErrors: number;
  /** Continuity-counter errors over all PIDs. */
  ccErrors: number;
  /** The PCR PID the timeline is taken from (PMT's, else the first PID seen with a PCR). */
  pcrPid: number | undefined;
  /** PCR statistics of {@link pcrPid} (all zero when there is none). */
  pcr: PcrStats;
  /** Span of the PCR timeline (last - first PCR), ms. */
  durationMs: number;
  /** PAT repetition. */
  pat: TableStats;
  /** PMT repetition (over all PMT PIDs). */
  pmt: TableStats;
  /** Programs from the latest PAT/PMT. */
  programs: ProgramInfo[];
  /** Per-PID results, ordered by PID. */
  pids: PidSummary[];
}

/** Options of a {@link TsAnalyzer}. */
export interface TsAnalyzerOptions {
  /**
   * Keep PCR/PTS/DTS values and random-access offsets in the summary (default true). Set to
   * false for a long-running self-check so memory stays constant.
   */
  recordValues?: boolean;
  /** PCR intervals longer than this count as gaps (default 40 ms, the DVB limit). */
  pcrGapMs?: number;
}

class StepTracker {
  count = 0;
  first: number | undefined;
  last: number | undefined;
  minStep: number | undefined;
  maxStep: number | undefined;
  nonMonotonic = 0;
  values: number[] = [];

  add(value: number, record: boolean): void {
    if (this.last !== undefined) {
      let step = value - this.last;
      if (step < -PTS_WRAP / 2) step += PTS_WRAP;
      else if (step > PTS_WRAP / 2) step -= PTS_WRAP;
      if (this.minStep === undefined || step < this.minStep) this.minStep = step;
      if (this.maxStep === undefined || step > this.maxStep) this.maxStep = step;
      if (step <= 0) this.nonMonotonic++;
    } else {
      this.first = value;
    }
    this.last = value;
    this.count++;
    if (record) this.values.push(value);
  }

  summary(): StepStats {
    return {
      count: this.count,
      first: this.first,
      last: this.last,
      minStep: this.minStep,
      maxStep: this.maxStep,
      nonMonotonic: this.nonMonotonic,
      values: this.values.slice(),
    };
  }
}

class PcrTracker {
  count = 0;
  last = -1;
  intervalSum = 0;
  intervals = 0;
  intervalMax = 0;
  gaps = 0;
  values: number[] = [];

  /** Adds a PCR; `discontinuity` restarts the interval series. */
  add(pcr: number, discontinuity: boolean, record: boolean, gapTicks: number): void {
    if (this.last >= 0 && !discontinuity) {
      let delta = pcr - this.last;
      if (delta < -PCR_WRAP / 2) delta += PCR_WRAP;
      if (delta <= 0 || delta > gapTicks) this.gaps++;
      if (delta > 0) {
        this.intervalSum += delta;
        this.intervals++;
        if (delta > this.intervalMax) this.intervalMax = delta;
      }
    }
    this.last = pcr;
    this.count++;
    if (record) this.values.push(pcr);
  }

  summary(): PcrStats {
    return {
      count: this.count,
      intervalMaxMs: this.intervalMax / PCR_TICKS_PER_MS,
      intervalMeanMs: this.intervals ? this.intervalSum / this.intervals / PCR_TICKS_PER_MS : 0,
      gaps: this.gaps,
      values: this.values.slice(),
    };
  }
}

class PidState {
  packets = 0;
  ccErrors = 0;
  discontinuities = 0;
  duplicates = 0;
  lastCc = -1;
  dupAllowed = true;
  pcr = new PcrTracker();
  pesCount = 0;
  pts = new StepTracker();
  dts = new StepTracker();
  randomAccessCount = 0;
  randomAccessOffsets: number[] = [];
  /** PSI section being reassembled (PAT/PMT PIDs only). */
  section: Uint8Array | undefined;
  sectionFill = 0;
  constructor(readonly pid: number) {}
}

/** Repetition of one table, timed on the PCR timeline. */
class TableTracker {
  count = 0;
  timed = 0;
  lastTicks = -1;
  maxTicks = 0;

  addTime(ticks: number): void {
    if (this.lastTicks >= 0) {
      let delta = ticks - this.lastTicks;
      if (delta < -PCR_WRAP / 2) delta += PCR_WRAP;
      if (delta > this.maxTicks) this.maxTicks = delta;
    }
    this.lastTicks = ticks;
    this.timed++;
  }

  summary(): TableStats {
    return {
      count: this.count,
      intervalMaxMs: this.maxTicks / PCR_TICKS_PER_MS,
      timed: this.timed,
    };
  }
}

/** A PAT/PMT section start waiting for the next PCR to be timed. */
interface PendingTableEvent {
  offset: number;
  table: TableTracker;
}

/**
 * Incremental TS analyzer. {@link push} bytes as they come (any chunking, resyncs on 0x47);
 * {@link summary} returns a snapshot at any time.
 */
export class TsAnalyzer {
  #record: boolean;
  #pcrGapTicks: number;
  #carry = new Uint8Array(TS_PACKET_SIZE);
  #carryLen = 0;
  #bytes = 0;
  #packets = 0;
  #syncLosses = 0;
  #bytesSkipped = 0;
  #inSync = true;
  #transportErrors = 0;
  #crcErrors = 0;
  #pids = new Map<number, PidState>();
  #programs = new Map<number, ProgramInfo>();
  #pmtPids = new Set<number>();
  #streamTypes = new Map<number, number>();
  #pcrPid: number | undefined;
  #firstPcr = -1;
  #lastPcrValue = -1;
  #lastPcrOffset = -1;
  #pending: PendingTableEvent[] = [];
  #pat = new TableTracker();
  #pmt = new TableTracker();

  /** An analyzer that has seen no bytes yet. */
  constructor(opts: TsAnalyzerOptions = {}) {
    this.#record = opts.recordValues ?? true;
    this.#pcrGapTicks = (opts.pcrGapMs ?? 40) * PCR_TICKS_PER_MS;
  }

  /** Feeds bytes. Partial packets are kept until the rest arrives. */
  push(chunk: Uint8Array): void {
    let pos = 0;
    const len = chunk.length;
    if (this.#carryLen > 0) {
      const need = TS_PACKET_SIZE - this.#carryLen;
      const take = Math.min(need, len);
      this.#carry.set(chunk.subarray(0, take), this.#carryLen);
      this.#carryLen += take;
      pos = take;
      if (this.#carryLen < TS_PACKET_SIZE) {
        this.#bytes += len;
        return;
      }
      this.#carryLen = 0;
      this.#packet(this.#carry, 0, this.#bytes - (TS_PACKET_SIZE - take));
    }
    while (pos < len) {
      if (chunk[pos] !== TS_SYNC_BYTE) {
        if (this.#inSync) this.#syncLosses++;
        this.#inSync = false;
        const next = chunk.indexOf(TS_SYNC_BYTE, pos + 1);
        const stop = next < 0 ? len : next;
        this.#bytesSkipped += stop - pos;
        pos = stop;
        continue;
      }
      if (pos + TS_PACKET_SIZE > len) {
        this.#carry.set(chunk.subarray(pos), 0);
        this.#carryLen = len - pos;
        break;
      }
      this.#inSync = true;
      this.#packet(chunk, pos, this.#bytes + pos);
      pos += TS_PACKET_SIZE;
    }
    this.#bytes += len;
  }

  /** Parses one packet at `buf[p]`; `offset` is its position in the whole stream. */
  #packet(buf: Uint8Array, p: number, offset: number): void {
    this.#packets++;
    const b1 = buf[p + 1];
    const pid = ((b1 & 0x1f) << 8) | buf[p + 2];
    if (b1 & 0x80) this.#transportErrors++;
    let st = this.#pids.get(pid);
    if (st === undefined) {
      st = new PidState(pid);
      this.#pids.set(pid, st);
    }
    st.packets++;
    if (pid === NULL_PID) return;
    const pusi = (b1 & 0x40) !== 0;
    const b3 = buf[p + 3];
    const afc = (b3 >> 4) & 3;
    const cc = b3 & 0x0f;
    const hasPayload = (afc & 1) !== 0;
    let payload = p + 4;
    let discontinuity = false;
    if (afc & 2) {
      const afLen = buf[p + 4];
      payload = p + 5 + afLen;
      if (afLen > 0) {
        const flags = buf[p + 5];
        discontinuity = (flags & 0x80) !== 0;
        if (flags & 0x40) {
          st.randomAccessCount++;
          if (this.#record) st.randomAccessOffsets.push(offset);
        }
        if ((flags & 0x10) && afLen >= 7) this.#pcr(st, buf, p + 6, offset, discontinuity);
      }
    }
    this.#continuity(st, cc, hasPayload, discontinuity);
    if (!hasPayload || payload >= p + TS_PACKET_SIZE) return;
    const end = p + TS_PACKET_SIZE;
    if (pid === PAT_PID || this.#pmtPids.has(pid)) {
      if (pusi) {
        const table = pid === PAT_PID ? this.#pat : this.#pmt;
        table.count++;
        // Without PCRs nothing gets timed; keep memory bounded.
        if (this.#pending.length < MAX_PENDING_TABLES) this.#pending.push({ offset, table });
      }
      this.#psi(st, buf, payload, end, pusi);
    } else if (pusi) {
      this.#pes(st, buf, payload, end);
    }
  }

  #continuity(st: PidState, cc: number, hasPayload: boolean, discontinuity: boolean): void {
    if (discontinuity) st.discontinuities++;
    if (st.lastCc < 0 || discontinuity) {
      st.lastCc = cc;
      st.dupAllowed = true;
      return;
    }
    if (!hasPayload) {
      // Adaptation-only packets do not increment the counter.
      if (cc !== st.lastCc) {
        st.ccErrors++;
        st.lastCc = cc;
      }
      return;
    }
    const expected = (st.lastCc + 1) & 0x0f;
    if (cc === expected) {
      st.dupAllowed = true;
    } else if (cc === st.lastCc && st.dupAllowed) {
      st.duplicates++;
      st.dupAllowed = false;
    } else {
      st.ccErrors++;
      st.dupAllowed = true;
    }
    st.lastCc = cc;
  }

  #pcr(st: PidState, buf: Uint8Array, q: number, offset: number, discontinuity: boolean): void {
    const base = buf[q] * 2 ** 25 + ((buf[q + 1] << 17) | (buf[q + 2] << 9) |
      (buf[q + 3] << 1) | (buf[q + 4] >> 7));
    const ext = ((buf[q + 4] & 1) << 8) | buf[q + 5];
    const pcr = base * 300 + ext;
    st.pcr.add(pcr, discontinuity, this.#record, this.#pcrGapTicks);
    if (this.#pcrPid === undefined) this.#pcrPid = st.pid;
    if (st.pid !== this.#pcrPid) return;
    if (discontinuity && this.#lastPcrOffset >= 0) {
      // A new timebase: tables pending against the old one cannot be timed, and intervals
      // do not span the discontinuity.
      this.#pending.length = 0;
      this.#pat.lastTicks = -1;
      this.#pmt.lastTicks = -1;
    } else if (this.#lastPcrOffset >= 0) {
      this.#timePending(this.#lastPcrOffset, this.#lastPcrValue, offset, pcr);
    }
    if (this.#firstPcr < 0) this.#firstPcr = pcr;
    this.#lastPcrOffset = offset;
    this.#lastPcrValue = pcr;
  }

  /** Times pending table events by interpolating between two PCRs of the PCR PID. */
  #timePending(off0: number, pcr0: number, off1: number, pcr1: number): void {
    let delta = pcr1 - pcr0;
    if (delta < -PCR_WRAP / 2) delta += PCR_WRAP;
    const span = off1 - off0;
    if (span <= 0 || delta <= 0) {
      this.#pending.length = 0;
      return;
    }
    const rate = delta / span;
    for (const ev of this.#pending) {
      let t = pcr0 + (ev.offset - off0) * rate;
      if (t < 0) t += PCR_WRAP;
      ev.table.addTime(t % PCR_WRAP);
    }
    this.#pending.length = 0;
  }

  #pes(st: PidState, buf: Uint8Array, q: number, end: number): void {
    if (end - q < 9 || buf[q] !== 0 || buf[q + 1] !== 0 || buf[q + 2] !== 1) return;
    st.pesCount++;
    const streamId = buf[q + 3];
    // Stream ids without the optional PES header (ISO 13818-1 2.4.3.7).
    if (
      streamId === 0xbc || streamId === 0xbe || streamId === 0xbf || streamId === 0xf0 ||
      streamId === 0xf1 || streamId === 0xff || streamId === 0xf2 || streamId === 0xf8
    ) return;
    const flags = buf[q + 7] >> 6;
    if (flags & 2) {
      if (end - q < 14) return;
      const pts = readTimestamp(buf, q + 9);
      st.pts.add(pts, this.#record);
      if (flags === 3 && end - q >= 19) st.dts.add(readTimestamp(buf, q + 14), this.#record);
      else st.dts.add(pts, this.#record);
    }
  }

  /** Reassembles PSI sections (PAT/PMT) on `st`'s PID. */
  #psi(st: PidState, buf: Uint8Array, q: number, end: number, pusi: boolean): void {
    if (pusi) {
      const pointer = buf[q];
      const start = q + 1;
      if (st.section !== undefined && pointer > 0) {
        this.#sectionBytes(st, buf.subarray(start, Math.min(start + pointer, end)));
      }
      st.section = undefined;
      let s = start + pointer;
      // Several sections may start in one packet; 0xff is stuffing.
      while (s + 3 <= end && buf[s] !== 0xff) {
        const sectionLength = ((buf[s + 1] & 0x0f) << 8) | buf[s + 2];
        st.section = new Uint8Array(3 + sectionLength);
        st.sectionFill = 0;
        const take = Math.min(end - s, st.section.length);
        this.#sectionBytes(st, buf.subarray(s, s + take));
        s += take;
        if (st.section !== undefined) break; // Continues in the next packet.
      }
    } else if (st.section !== undefined) {
      this.#sectionBytes(st, buf.subarray(q, end));
    }
  }

  #sectionBytes(st: PidState, bytes: Uint8Array): void {
    const section = st.section!;
    const take = Math.min(bytes.length, section.length - st.sectionFill);
    section.set(bytes.subarray(0, take), st.sectionFill);
    st.sectionFill += take;
    if (st.sectionFill < section.length) return;
    st.section = undefined;
    if (section.length < 12 || crc32Mpeg(section) !== 0) {
      this.#crcErrors++;
      return;
    }
    if (section[0] === 0x00 && st.pid === PAT_PID) this.#parsePat(section);
    else if (section[0] === 0x02) this.#parsePmt(section);
  }

  #parsePat(s: Uint8Array): void {
    const end = s.length - 4;
    for (let i = 8; i + 4 <= end; i += 4) {
      const programNumber = (s[i] << 8) | s[i + 1];
      const pid = ((s[i + 2] & 0x1f) << 8) | s[i + 3];
      if (programNumber === 0) continue; // Network PID.
      this.#pmtPids.add(pid);
      const known = this.#programs.get(programNumber);
      if (known === undefined || known.pmtPid !== pid) {
        this.#programs.set(programNumber, {
          programNumber,
          pmtPid: pid,
          pcrPid: undefined,
          streams: [],
        });
      }
    }
  }

  #parsePmt(s: Uint8Array): void {
    const programNumber = (s[3] << 8) | s[4];
    const pcrPid = ((s[8] & 0x1f) << 8) | s[9];
    const infoLen = ((s[10] & 0x0f) << 8) | s[11];
    const end = s.length - 4;
    const streams: ProgramStream[] = [];
    for (let i = 12 + infoLen; i + 5 <= end;) {
      const streamType = s[i];
      const pid = ((s[i + 1] & 0x1f) << 8) | s[i + 2];
      const esInfoLen = ((s[i + 3] & 0x0f) << 8) | s[i + 4];
      streams.push({ pid, streamType });
      this.#streamTypes.set(pid, streamType);
      i += 5 + esInfoLen;
    }
    const program = this.#programs.get(programNumber);
    if (program !== undefined) {
      program.pcrPid = pcrPid;
      program.streams = streams;
    }
    if (pcrPid !== NULL_PID && this.#pcrPid !== pcrPid) {
      this.#pcrPid = pcrPid;
      const pcr = this.#pids.get(pcrPid)?.pcr;
      this.#lastPcrOffset = -1;
      this.#firstPcr = pcr && pcr.count > 0 ? pcr.last : -1;
    }
  }

  /** A snapshot of everything found so far. */
  summary(): TsSummary {
    const pids: PidSummary[] = [...this.#pids.values()]
      .sort((a, b) => a.pid - b.pid)
      .map((st) => ({
        pid: st.pid,
        packets: st.packets,
        ccErrors: st.ccErrors,
        discontinuities: st.discontinuities,
        duplicates: st.duplicates,
        pcr: st.pcr.summary(),
        pesCount: st.pesCount,
        pts: st.pts.summary(),
        dts: st.dts.summary(),
        randomAccessCount: st.randomAccessCount,
        randomAccessOffsets: st.randomAccessOffsets.slice(),
        streamType: this.#streamTypes.get(st.pid),
      }));
    const pcrState = this.#pcrPid === undefined ? undefined : this.#pids.get(this.#pcrPid);
    const pcr = (pcrState?.pcr ?? new PcrTracker()).summary();
    let durationMs = 0;
    if (pcrState !== undefined && this.#firstPcr >= 0 && pcrState.pcr.last >= 0) {
      let span = pcrState.pcr.last - this.#firstPcr;
      if (span < 0) span += PCR_WRAP;
      durationMs = span / PCR_TICKS_PER_MS;
    }
    return {
      bytes: this.#bytes,
      packets: this.#packets,
      syncLosses: this.#syncLosses,
      bytesSkipped: this.#bytesSkipped,
      transportErrors: this.#transportErrors,
      crcErrors: this.#crcErrors,
      ccErrors: pids.reduce((n, p) => n + p.ccErrors, 0),
      pcrPid: this.#pcrPid,
      pcr,
      durationMs,
      pat: this.#pat.summary(),
      pmt: this.#pmt.summary(),
      programs: [...this.#programs.values()].map((p) => ({ ...p, streams: p.streams.slice() })),
      pids,
    };
  }
}

/** Analyzes a whole TS byte string at once. */
export function analyzeTs(bytes: Uint8Array, opts: TsAnalyzerOptions = {}): TsSummary {
  const analyzer = new TsAnalyzer(opts);
  analyzer.push(bytes);
  return analyzer.summary();
}

/** Reads a 33-bit PES timestamp (PTS or DTS) at `buf[q]`. */
function readTimestamp(buf: Uint8Array, q: number): number {
  const hi = (buf[q] >> 1) & 0x07;
  const mid = (buf[q + 1] << 7) | (buf[q + 2] >> 1);
  const lo = (buf[q + 3] << 7) | (buf[q + 4] >> 1);
  return hi * 2 ** 30 + mid * 2 ** 15 + lo;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** CRC-32/MPEG-2 of `bytes`; 0 for a PSI section including its CRC field. */
export function crc32Mpeg(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ bytes[i]) & 0xff];
  }
  return crc >>> 0;
}
