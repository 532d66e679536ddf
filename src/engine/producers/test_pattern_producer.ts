/**
 * The built-in test pattern: colour bars, a moving box, the wall-clock time and the output
 * frame number burned in (as digits and as a machine-readable bit strip), and a 1 kHz tone.
 *
 * @module
 */

import type { ProgramFormat } from "../../../media/program_format.ts";
import { type FrameContext, newProducerCounters, type Producer } from "./producer.ts";

/** Number of bits in the frame-number strip at the bottom of the picture. */
export const FRAME_STRIP_BITS = 24;

// 75% bars in BT.601 limited range (Y, U, V): white, yellow, cyan, green, magenta, red, blue.
const BARS: ReadonlyArray<readonly [number, number, number]> = [
  [180, 128, 128],
  [162, 44, 142],
  [131, 156, 44],
  [112, 72, 58],
  [84, 184, 198],
  [65, 100, 212],
  [35, 212, 114],
];

// 5x7 glyphs, one string of 7 rows of 5 bits each.
const GLYPHS: Record<string, string> = {
  "0": "01110100011001110101110011000101110",
  "1": "00100011000010000100001000010001110",
  "2": "01110100010000100010001000100011111",
  "3": "11111000100010000010000011000101110",
  "4": "00010001100101010010111110001000010",
  "5": "11111100001111000001000011000101110",
  "6": "00110010001000011110100011000101110",
  "7": "11111000010001000100010000100001000",
  "8": "01110100011000101110100011000101110",
  "9": "01110100011000101111000010001001100",
  ":": "00000011000110000000011000110000000",
  ".": "00000000000000000000000000110001100",
  " ": "00000000000000000000000000000000000",
  "#": "01010010101111101010111110101001010",
  "-": "00000000000000011111000000000000000",
};

/** Reads the frame number from the bit strip of a decoded test-pattern picture (Y plane). */
export function readFrameStrip(y: Uint8Array, width: number, height: number): number {
  const { cell, top } = stripGeometry(width, height);
  let value = 0;
  for (let bit = 0; bit < FRAME_STRIP_BITS; bit++) {
    const cx = bit * cell + (cell >> 1);
    const cy = top + (cell >> 1);
    if (y[cy * width + cx] > 128) value |= 1 << bit;
  }
  return value >>> 0;
}

function stripGeometry(width: number, height: number) {
  const cell = Math.max(2, Math.floor(width / FRAME_STRIP_BITS / 2) & ~1);
  return { cell, top: height - cell };
}

/** Colour bars, moving box, burned-in clock and frame number, 1 kHz tone at -20 dBFS. */
export class TestPatternProducer implements Producer {
  readonly description = "test pattern";
  readonly counters = newProducerCounters();
  #fmt: ProgramFormat;
  #background: Uint8Array;
  #picture: Uint8Array;
  #samplePos = 0;

  constructor(format: ProgramFormat) {
    this.#fmt = format;
    this.#background = makeBars(format.width, format.height);
    this.#picture = new Uint8Array(this.#background.length);
  }

  nextVideo(ctx: FrameContext): Uint8Array {
    const { width: w, height: h } = this.#fmt;
    const pic = this.#picture;
    pic.set(this.#background);
    // Moving box: sweeps across the lower band once every 4 seconds.
    const fps = this.#fmt.frameRate.num / this.#fmt.frameRate.den;
    const box = Math.max(8, (h >> 3) & ~1);
    const span = w - box;
    const period = Math.max(1, Math.round(fps * 4));
    const phase = (ctx.frameNumber % period) / period;
    const x = Math.round(span * (phase < 0.5 ? phase * 2 : 2 - phase * 2)) & ~1;
    const y = Math.round(h * 0.72) & ~1;
    fillRect(pic, w, h, x, y, box, box, [235, 128, 128]);
    // Clock and frame number.
    const scale = Math.max(1, Math.floor(h / 120));
    const d = new Date(ctx.dueUtcMs);
    const clock = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${
      String(d.getUTCMilliseconds()).padStart(3, "0")
    }`;
    const textY = Math.round(h * 0.06);
    const textX = Math.round(w * 0.05);
    drawText(pic, w, h, textX, textY, scale, clock);
    drawText(pic, w, h, textX, textY + 9 * scale, scale, `#${ctx.frameNumber}`);
    drawFrameStrip(pic, w, h, ctx.frameNumber);
    return pic;
  }

  nextAudio(samples: number): Int16Array {
    const ch = this.#fmt.channels;
    const rate = this.#fmt.sampleRate;
    const out = new Int16Array(samples * ch);
    const amp = 3277; // -20 dBFS
    for (let i = 0; i < samples; i++) {
      // Phase from an integer sample counter modulo the rate: exact for any run length.
      const v = Math.round(amp * Math.sin((2 * Math.PI * 1000 * (this.#samplePos % rate)) / rate));
      for (let c = 0; c < ch; c++) out[i * ch + c] = v;
      this.#samplePos++;
    }
    return out;
  }

  close(): void {}
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

function makeBars(w: number, h: number): Uint8Array {
  const buf = new Uint8Array(w * h + 2 * (w >> 1) * (h >> 1));
  const cw = w >> 1;
  const ch = h >> 1;
  const uOff = w * h;
  const vOff = uOff + cw * ch;
  const barsBottom = Math.round(h * 0.67) & ~1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const bar = BARS[Math.min(BARS.length - 1, Math.floor((x * BARS.length) / w))];
      buf[y * w + x] = y < barsBottom ? bar[0] : 16;
    }
  }
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      const bar = BARS[Math.min(BARS.length - 1, Math.floor((x * 2 * BARS.length) / w))];
      const inBars = y * 2 < barsBottom;
      buf[uOff + y * cw + x] = inBars ? bar[1] : 128;
      buf[vOff + y * cw + x] = inBars ? bar[2] : 128;
    }
  }
  return buf;
}

function fillRect(
  buf: Uint8Array,
  w: number,
  h: number,
  x0: number,
  y0: number,
  rw: number,
  rh: number,
  yuv: readonly [number, number, number],
): void {
  const x1 = Math.min(w, x0 + rw);
  const y1 = Math.min(h, y0 + rh);
  if (x0 >= x1 || y0 >= y1) return;
  for (let y = y0; y < y1; y++) buf.fill(yuv[0], y * w + x0, y * w + x1);
  const cw = w >> 1;
  const uOff = w * h;
  const vOff = uOff + cw * (h >> 1);
  for (let y = y0 >> 1; y < y1 >> 1; y++) {
    buf.fill(yuv[1], uOff + y * cw + (x0 >> 1), uOff + y * cw + (x1 >> 1));
    buf.fill(yuv[2], vOff + y * cw + (x0 >> 1), vOff + y * cw + (x1 >> 1));
  }
}

function drawText(
  buf: Uint8Array,
  w: number,
  h: number,
  x: number,
  y: number,
  scale: number,
  text: string,
): void {
  // Dark box behind the text for legibility.
  fillRect(buf, w, h, x - scale * 2, y - scale * 2, (text.length * 6 + 3) * scale, 11 * scale, [
    16,
    128,
    128,
  ]);
  for (let i = 0; i < text.length; i++) {
    const glyph = GLYPHS[text[i]] ?? GLYPHS[" "];
    for (let row = 0; row < 7; row++) {
      for (let col = 0; col < 5; col++) {
        if (glyph[row * 5 + col] !== "1") continue;
        const px = x + (i * 6 + col) * scale;
        const py = y + row * scale;
        for (let dy = 0; dy < scale && py + dy < h; dy++) {
          const start = (py + dy) * w + px;
          buf.fill(235, start, start + Math.min(scale, w - px));
        }
      }
    }
  }
}

function drawFrameStrip(buf: Uint8Array, w: number, h: number, frameNumber: number): void {
  const { cell, top } = stripGeometry(w, h);
  for (let bit = 0; bit < FRAME_STRIP_BITS; bit++) {
    const on = ((frameNumber >>> bit) & 1) === 1;
    fillRect(buf, w, h, bit * cell, top, cell, cell, on ? [235, 128, 128] : [16, 128, 128]);
  }
}
