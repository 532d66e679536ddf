/**
 * The package changelog (`/usr/share/doc/retrovue-playout/changelog.gz`; the package is
 * Debian-native, its version is deno.json's). One entry for the version being built.
 *
 * @module
 */

/** Inputs of {@linkcode renderChangelog}. */
export interface ChangelogEntry {
  package: string;
  version: string;
  maintainer: string;
  /** Release date, formatted RFC 2822 style as Debian changelogs want. */
  date: Date;
  /** Change lines (without the leading "* "). */
  changes: readonly string[];
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `Tue, 24 Nov 2026 18:38:47 +0000`. */
export function rfc2822(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[date.getUTCDay()]}, ${p(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ` +
    `${date.getUTCFullYear()} ${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:` +
    `${p(date.getUTCSeconds())} +0000`;
}

/** The changelog text. */
export function renderChangelog(e: ChangelogEntry): string {
  return `${e.package} (${e.version}) unstable; urgency=medium\n\n` +
    e.changes.map((c) => `  * ${c}\n`).join("") +
    `\n -- ${e.maintainer}  ${rfc2822(e.date)}\n`;
}
