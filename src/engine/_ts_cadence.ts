/**
 * Keeps the PCR and PAT/PMT cadence of a VBR MPEG-TS within TR 101 290 at any frame rate.
 * FFmpeg's VBR mpegts muxer writes a PCR only in the first packet of a video frame, so the
 * interval is one frame duration (41.7 ms at 23.976 fps, 200 ms at 5 fps; TR 101 290 asks
 * at most 40 ms), and PAT/PMT only at PES starts, which its interleaving can hold back
 * beyond 100 ms at low rates.
 *
 * Each chunk of TS (what the muxer produced for one output frame) is taken to span one
 * frame duration; packets are placed on that span in byte order, re-anchored on every PCR
 * the muxer wrote. Between two such PCRs, packets with an adaptation field carrying only a
 * PCR (no payload, so the continuity counter does not advance) are inserted on the PCR PID
 * wherever the span since the last PCR reaches the step. An inserted PCR is always below the
 * caller's bound on the muxer's next PCR, so PCRs stay strictly increasing. When no PAT
 * has gone out for `psiMs` of that span, copies of the last PAT and PMT are inserted; the
 * continuity counters of the PAT and PMT PIDs are renumbered so copies and the muxer's own
 * tables count on without a break. (A table's time on the PCR timeline lies between the
 * PCRs around it, so a 50 ms period keeps intervals under 100 ms.)
 *
 * @module
 */

const TS = 188;
const PCR_WRAP = 2 ** 33 * 300;

/** Inserts PCR-only packets and PAT/PMT repeats into the muxer's output. */
export class TsCadence {
  readonly #frame27: number;
  readonly #step27: number;
  #pid = -1;
  #cc = 0;
  /** Last PCR in the output (27 MHz, unwrapped), real or inserted. */
  #last = -1;
  /** Last PCR the muxer wrote (unwrapped). */
  #lastReal = -1;
  /** Nominal PCR time of the start of the next chunk. */
  #start = 0;
  #wraps = 0;
  /** PCR-only packets inserted so far. */
  inserted = 0;
  readonly #psi27: number;
  #pmtPid = -1;
  #pat: Uint8Array | undefined;
  #pmt: Uint8Array | undefined;
  #patCc = 0;
  #pmtCc = 0;
  /** PCR before the last PAT out (27 MHz): PSI is timed on the PCR timeline. */
  #lastPsi = -Infinity;

  /**
   * @param frameSeconds duration of one output frame (one chunk).
   * @param stepMs largest wanted PCR interval; the real step divides a frame evenly.
   */
  constructor(frameSeconds: number, stepMs = 20, psiMs = 50) {
    this.#frame27 = frameSeconds * 27_000_000;
    this.#psi27 = psiMs * 27_000;
    const n = Math.max(1, Math.ceil((frameSeconds * 1000) / stepMs - 1e-9));
    this.#step27 = this.#frame27 / n;
  }

  /**
   * Passes one chunk (whole packets) through, adding PCR-only packets. `videoDts90k` lists,
   * in order, the DTS (90 kHz, as the muxer writes them) of video packets handed to the muxer
   * that may not be written yet (the muxer interleaves); entries at or below the last written
   * PCR are removed from it. `nextDts90k` is a lower bound of the DTS of any video packet not
   * handed over yet. The muxer's next PCR is at least the first of them above its last.
   */
  push(chunk: Uint8Array, videoDts90k: number[] = [], nextDts90k?: number): Uint8Array {
    const m = Math.floor(chunk.length / TS);
    const perPacket = m > 0 ? this.#frame27 / m : 0;
    // The muxer's PCRs in this chunk (packet index, unwrapped value); each bounds the fill
    // before it, the caller's bound the fill after the last.
    const reals: { i: number; v: number }[] = [];
    for (let i = 0; i < m; i++) {
      const pcr = readPcr(chunk, i * TS);
      if (pcr === undefined) continue;
      if (this.#pid < 0) {
        this.#pid = pid(chunk, i * TS);
        this.#lastReal = this.#last = pcr;
        this.#start = pcr - i * perPacket;
      }
      const v = this.#unwrap(pcr);
      reals.push({ i, v });
      this.#lastReal = v;
    }
    if (this.#pid < 0) return chunk;
    // Rounding of 90 kHz values may differ by a tick from the muxer's: keep two ticks clear.
    const lastReal90k = this.#lastReal / 300;
    while (videoDts90k.length > 0 && videoDts90k[0] <= lastReal90k + 1) videoDts90k.shift();
    const next90k = videoDts90k[0] ?? nextDts90k ?? lastReal90k + this.#frame27 / 300;
    const after = Math.max(this.#lastReal, (next90k - 2) * 300);
    const out: Uint8Array[] = [];
    let from = 0;
    let r = 0;
    for (let i = 0; i < m; i++) {
      const o = i * TS;
      if (r < reals.length && reals[r].i === i) {
        const p = reals[r++].v;
        // Up to the muxer's PCR, then re-anchor the span on it.
        const fill = this.#fillTo(p, p);
        if (fill.length > 0) {
          out.push(chunk.subarray(from, o), ...fill);
          from = o;
        }
        this.#start += p - (this.#start + i * perPacket);
        this.#last = p;
      } else {
        const bound = r < reals.length ? reals[r].v : after;
        const fill = this.#fillTo(this.#start + i * perPacket, bound);
        if (fill.length > 0) {
          out.push(chunk.subarray(from, o), ...fill);
          from = o;
        }
      }
      const p = pid(chunk, o);
      if (p === this.#pid) this.#cc = chunk[o + 3] & 0x0f;
      if (p === 0 || p === this.#pmtPid) {
        this.#table(chunk.subarray(o, o + TS), this.#last);
      } else {
        const psi = this.#psiDue(this.#last);
        if (psi.length > 0) {
          out.push(chunk.subarray(from, o), ...psi);
          from = o;
        }
      }
    }
    this.#start += this.#frame27;
    out.push(chunk.subarray(from, m * TS), ...this.#fillTo(this.#start, after));
    out.push(...this.#psiDue(this.#last));
    return concat(out);
  }

  /** A PAT or PMT packet of the muxer (in place): remembered, its counter renumbered. */
  #table(packet: Uint8Array, t: number): void {
    const isPat = pid(packet, 0) === 0;
    if (isPat) {
      this.#lastPsi = t;
      this.#pmtPid = patPmtPid(packet) ?? this.#pmtPid;
      this.#pat = packet.slice();
      packet[3] = (packet[3] & 0xf0) | this.#patCc;
      this.#patCc = (this.#patCc + 1) & 0x0f;
    } else {
      this.#pmt = packet.slice();
      packet[3] = (packet[3] & 0xf0) | this.#pmtCc;
      this.#pmtCc = (this.#pmtCc + 1) & 0x0f;
    }
  }

  /** Copies of the last PAT and PMT when none went out for the PSI period before `t`. */
  #psiDue(t: number): Uint8Array[] {
    if (!this.#pat || !this.#pmt || t - this.#lastPsi < this.#psi27) return [];
    this.#lastPsi = t;
    const pat = this.#pat.slice();
    const pmt = this.#pmt.slice();
    pat[3] = (pat[3] & 0xf0) | this.#patCc;
    pmt[3] = (pmt[3] & 0xf0) | this.#pmtCc;
    this.#patCc = (this.#patCc + 1) & 0x0f;
    this.#pmtCc = (this.#pmtCc + 1) & 0x0f;
    return [pat, pmt];
  }

  /** PCR-only packets from the last PCR up to `t` (exclusive of `bound`). */
  #fillTo(t: number, bound: number): Uint8Array[] {
    const packets: Uint8Array[] = [];
    // Not within half a step of the muxer's next PCR: no near-duplicate values.
    while (t - this.#last > this.#step27 + 1 && this.#last + 1.5 * this.#step27 < bound) {
      this.#last += this.#step27;
      packets.push(pcrOnlyPacket(this.#pid, this.#cc, Math.floor(this.#last)));
      this.inserted++;
      packets.push(...this.#psiDue(this.#last));
    }
    return packets;
  }

  #unwrap(raw: number): number {
    let v = raw + this.#wraps * PCR_WRAP;
    if (this.#lastReal >= 0 && v < this.#lastReal - PCR_WRAP / 2) {
      this.#wraps++;
      v += PCR_WRAP;
    }
    return v;
  }
}

function pid(b: Uint8Array, o: number): number {
  return ((b[o + 1] & 0x1f) << 8) | b[o + 2];
}

/** PID of the first program's PMT in a single-packet PAT, if it is one. */
function patPmtPid(b: Uint8Array): number | undefined {
  if (!(b[1] & 0x40)) return undefined; // not a section start
  const afc = (b[3] >> 4) & 3;
  let o = afc & 2 ? 5 + b[4] : 4;
  o += 1 + b[o]; // pointer field
  if (b[o] !== 0x00) return undefined; // table_id of a PAT
  const sectionLength = ((b[o + 1] & 0x0f) << 8) | b[o + 2];
  const end = o + 3 + sectionLength - 4; // before the CRC
  for (let e = o + 8; e + 4 <= end && e + 4 <= TS; e += 4) {
    const program = (b[e] << 8) | b[e + 1];
    if (program !== 0) return ((b[e + 2] & 0x1f) << 8) | b[e + 3];
  }
  return undefined;
}

/** The PCR (27 MHz) of the packet at `o`, if it carries one. */
function readPcr(b: Uint8Array, o: number): number | undefined {
  const afc = (b[o + 3] >> 4) & 3;
  if (!(afc & 2) || b[o + 4] < 7 || !(b[o + 5] & 0x10)) return undefined;
  const base = b[o + 6] * 2 ** 25 + b[o + 7] * 2 ** 17 + b[o + 8] * 2 ** 9 + b[o + 9] * 2 +
    (b[o + 10] >> 7);
  const ext = ((b[o + 10] & 1) << 8) | b[o + 11];
  return base * 300 + ext;
}

/** A packet on `pid` with an adaptation field holding only `pcr` (27 MHz), no payload. */
function pcrOnlyPacket(pid: number, cc: number, pcr: number): Uint8Array {
  const p = new Uint8Array(TS).fill(0xff);
  const v = pcr % PCR_WRAP;
  const base = Math.floor(v / 300);
  const ext = v % 300;
  p[0] = 0x47;
  p[1] = (pid >> 8) & 0x1f;
  p[2] = pid & 0xff;
  p[3] = 0x20 | cc; // adaptation field only: the continuity counter stays
  p[4] = TS - 5;
  p[5] = 0x10; // PCR_flag
  p[6] = Math.floor(base / 2 ** 25) & 0xff;
  p[7] = Math.floor(base / 2 ** 17) & 0xff;
  p[8] = Math.floor(base / 2 ** 9) & 0xff;
  p[9] = Math.floor(base / 2) & 0xff;
  p[10] = ((base % 2) << 7) | 0x7e | (ext >> 8);
  p[11] = ext & 0xff;
  return p;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
