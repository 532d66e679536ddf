/**
 * The glibc an executable needs, for the package's `Depends: libc6 (>= X)`: the highest
 * `GLIBC_x.y` symbol version named in the binary (read as bytes; no binutils needed).
 *
 * @module
 */

/** The binary names no GLIBC_ symbol version. */
export class NoGlibcVersionError extends Error {
  override name = "NoGlibcVersionError";
  constructor(readonly value: string) {
    super(`${value} names no GLIBC_x.y symbol version: not a dynamically linked glibc binary?`);
  }
}

/** Highest `GLIBC_x.y[.z]` version string in `bytes`, or undefined. */
export function highestGlibcVersion(bytes: Uint8Array): string | undefined {
  const text = new TextDecoder("latin1").decode(bytes);
  let best: number[] | undefined;
  for (const m of text.matchAll(/GLIBC_(\d+)\.(\d+)(?:\.(\d+))?(?![\d.])/g)) {
    const v = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
    if (!best || compare(v, best) > 0) best = v;
  }
  if (!best) return undefined;
  return best[2] ? best.join(".") : `${best[0]}.${best[1]}`;
}

/** `libc6 (>= X)` for the executable at `path`. */
export async function libcDependency(path: string): Promise<string> {
  const version = highestGlibcVersion(await Deno.readFile(path));
  if (!version) throw new NoGlibcVersionError(path);
  return `libc6 (>= ${version})`;
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
