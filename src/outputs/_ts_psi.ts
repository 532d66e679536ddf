/**
 * Reading the few MPEG-TS fields the fan-out and the HLS segmenter need: PAT → PMT PID,
 * PMT → video PID, the random access indicator, and a video PES's PTS. PSI is expected in one
 * packet (true for one program).
 *
 * @module
 */

import { isVideoStreamType } from "../../media/ts_analyzer.ts";

/** TS packet size. */
export const PACKET = 188;
/** TS sync byte. */
export const SYNC = 0x47;

/** True when the packet at `buf[o]` has the random access indicator set. */
export function randomAccess(buf: Uint8Array, o: number): boolean {
  return (buf[o + 3] & 0x20) !== 0 && buf[o + 4] > 0 && (buf[o + 5] & 0x40) !== 0;
}

/** Offset of the PSI section in a PUSI packet, or -1. */
export function sectionStart(p: Uint8Array): number {
  let q = 4;
  if (p[3] & 0x20) q += 1 + p[4];
  if ((p[3] & 0x10) === 0 || q >= PACKET) return -1;
  q += 1 + p[q];
  return q + 3 <= PACKET ? q : -1;
}

/** PMT PID of the first program in a one-packet PAT, or -1. */
export function patPmtPid(p: Uint8Array): number {
  const s = sectionStart(p);
  if (s < 0 || p[s] !== 0x00) return -1;
  const end = Math.min(s + 3 + (((p[s + 1] & 0x0f) << 8) | p[s + 2]) - 4, PACKET);
  for (let i = s + 8; i + 4 <= end; i += 4) {
    const programNumber = (p[i] << 8) | p[i + 1];
    if (programNumber !== 0) return ((p[i + 2] & 0x1f) << 8) | p[i + 3];
  }
  return -1;
}

/** PID of the first video stream in a one-packet PMT, or -1. */
export function pmtVideoPid(p: Uint8Array): number {
  const s = sectionStart(p);
  if (s < 0 || p[s] !== 0x02 || s + 12 > PACKET) return -1;
  const end = Math.min(s + 3 + (((p[s + 1] & 0x0f) << 8) | p[s + 2]) - 4, PACKET);
  for (let i = s + 12 + (((p[s + 10] & 0x0f) << 8) | p[s + 11]); i + 5 <= end;) {
    if (isVideoStreamType(p[i])) return ((p[i + 1] & 0x1f) << 8) | p[i + 2];
    i += 5 + (((p[i + 3] & 0x0f) << 8) | p[i + 4]);
  }
  return -1;
}

/** The PTS (90 kHz, 33 bits) of the PES starting in the PUSI packet at `buf[o]`, or -1. */
export function pesPts(buf: Uint8Array, o: number): number {
  let q = o + 4;
  if (buf[o + 3] & 0x20) q += 1 + buf[o + 4];
  if ((buf[o + 3] & 0x10) === 0 || q + 14 > o + PACKET) return -1;
  if (buf[q] !== 0 || buf[q + 1] !== 0 || buf[q + 2] !== 1) return -1;
  if ((buf[q + 7] & 0x80) === 0) return -1;
  const p = q + 9;
  return (buf[p] & 0x0e) * 2 ** 29 + buf[p + 1] * 2 ** 22 + (buf[p + 2] & 0xfe) * 2 ** 14 +
    buf[p + 3] * 2 ** 7 + (buf[p + 4] >> 1);
}
