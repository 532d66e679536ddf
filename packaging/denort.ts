/**
 * Can `deno compile` get its runtime (denort) here? Answered quickly, without a long network
 * hang: `DENORT_BIN` first, then Deno's download cache, then one short probe of the download
 * host. A positive answer is only a hint; compile.ts still checks the executable it gets.
 *
 * @module
 */

/** Where denort would come from, or why it cannot be had. */
export type DenortAvailability =
  | { available: true; source: string }
  | { available: false; reason: string };

/** Options of {@linkcode probeDenort}. */
export interface ProbeDenortOptions {
  /** Environment to read `DENORT_BIN`, `DENO_DIR`, `XDG_CACHE_HOME`, `HOME` from. */
  env?: Record<string, string | undefined>;
  /** Deno version whose denort is wanted (default: the running one). */
  denoVersion?: string;
  /** Target triple (default: the running one). */
  target?: string;
  /** Download host probe timeout in milliseconds (default 4000). */
  probeTimeoutMs?: number;
  /** Download host to probe (default https://dl.deno.land). */
  downloadHost?: string;
}

/** Deno's cache directory as the CLI computes it (`DENO_DIR`, else the XDG cache). */
export function denoCacheDir(env: Record<string, string | undefined>): string | undefined {
  if (env.DENO_DIR) return env.DENO_DIR;
  if (env.XDG_CACHE_HOME) return `${env.XDG_CACHE_HOME}/deno`;
  if (env.HOME) return `${env.HOME}/.cache/deno`;
  return undefined;
}

/** Decides whether denort can be obtained; an unreachable download host becomes a reason. */
export async function probeDenort(opts: ProbeDenortOptions = {}): Promise<DenortAvailability> {
  const env = opts.env ?? Deno.env.toObject();
  const version = opts.denoVersion ?? Deno.version.deno;
  const target = opts.target ?? Deno.build.target;
  if (env.DENORT_BIN) {
    const info = await statOrNull(env.DENORT_BIN);
    if (info?.isFile) return { available: true, source: `DENORT_BIN=${env.DENORT_BIN}` };
    return { available: false, reason: `DENORT_BIN=${env.DENORT_BIN} is not a file` };
  }
  const cache = denoCacheDir(env);
  const zip = cache ? `${cache}/dl/release/v${version}/denort-${target}.zip` : undefined;
  if (zip && (await statOrNull(zip))?.isFile) return { available: true, source: zip };
  const host = opts.downloadHost ?? "https://dl.deno.land";
  try {
    const res = await fetch(`${host}/release/v${version}/denort-${target}.zip`, {
      method: "HEAD",
      signal: AbortSignal.timeout(opts.probeTimeoutMs ?? 4000),
    });
    await res.body?.cancel();
    if (res.ok) return { available: true, source: `download from ${host}` };
    return {
      available: false,
      reason: `denort-${target}.zip for Deno ${version} not in ${
        zip ?? "Deno's cache"
      } and ${host} answered ${res.status}`,
    };
  } catch (err) {
    return {
      available: false,
      reason: `denort-${target}.zip for Deno ${version} not in ${
        zip ?? "Deno's cache"
      } and ${host} is unreachable (${err instanceof Error ? err.message : String(err)})`,
    };
  }
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}
