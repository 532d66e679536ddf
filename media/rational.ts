/**
 * Exact rational numbers, e.g. a frame rate of 30000/1001, and their "N/D" text form.
 *
 * @module
 */

/** An exact rational number, e.g. a frame rate of 30000/1001. */
export interface Rational {
  /** Numerator. */
  num: number;
  /** Denominator, > 0. */
  den: number;
}

/** Parses "30000/1001" or "25" into a rational; returns undefined when malformed. */
export function parseRational(text: string): Rational | undefined {
  const m = /^\s*(\d+)\s*(?:\/\s*(\d+)\s*)?$/.exec(text);
  if (!m) return undefined;
  const num = Number(m[1]);
  const den = m[2] === undefined ? 1 : Number(m[2]);
  if (!Number.isSafeInteger(num) || !Number.isSafeInteger(den) || num <= 0 || den <= 0) {
    return undefined;
  }
  return { num, den };
}

/** Formats a rational as "num/den". */
export function formatRational(r: Rational): string {
  return `${r.num}/${r.den}`;
}
