/**
 * Prometheus file-based service discovery for engines whose metrics port is not known in
 * advance (Core-managed engines listen on a free port): each engine writes one target file
 * `<dir>/<instance>.json` that a `file_sd_configs` entry with `files: ["<dir>/*.json"]` picks
 * up, and removes it when it stops. A file left by an engine that died without cleaning up
 * (SIGKILL) is removed by the next engine that starts, once its pid is gone.
 *
 * The file (Prometheus' file_sd JSON format):
 *
 * ```json
 * [{"targets":["127.0.0.1:40123"],
 *   "labels":{"grpc_endpoint":"127.0.0.1:50051","__retrovue_pid":"4242"}}]
 * ```
 *
 * `__retrovue_pid` starts with `__`, so Prometheus drops it after relabelling: a restarted
 * engine keeps its series.
 *
 * @module
 */

import { mkdirReadable } from "../config/runtime_paths.ts";
import type { Logger } from "../log/log.ts";

/** Label carrying the writer's pid (dropped by Prometheus after relabelling). */
export const PID_LABEL = "__retrovue_pid";

/** Options of {@link publishMetricsTarget}. */
export interface MetricsTargetOptions {
  /** Directory Prometheus reads (`file_sd_configs.files: ["<dir>/*.json"]`). */
  dir: string;
  /** File-name-safe instance name (the file is `<instance>.json`). */
  instance: string;
  /** The scrape address, `host:port`. */
  address: string;
  /** Extra target labels. */
  labels: Record<string, string>;
  /** Whether a pid is alive (for sweeping stale files). */
  processExists: (pid: number) => boolean;
  log: Logger;
}

/** A published target; {@link remove} it when the listener closes. */
export interface MetricsTarget {
  /** The target file. */
  readonly path: string;
  /** Removes the file (only if it is still this process's). Never throws. */
  remove(): Promise<void>;
}

/** One file_sd target group. */
interface TargetGroup {
  targets: string[];
  labels?: Record<string, string>;
}

/** Writes the target file atomically (mode 0644) after sweeping stale files in `dir`. */
export async function publishMetricsTarget(opts: MetricsTargetOptions): Promise<MetricsTarget> {
  const { dir, log } = opts;
  await mkdirReadable(dir);
  await sweepStale(opts);
  const path = `${dir.replace(/\/+$/, "")}/${opts.instance}.json`;
  const group: TargetGroup = {
    targets: [opts.address],
    labels: { ...opts.labels, [PID_LABEL]: String(Deno.pid) },
  };
  // A name Prometheus' "*.json" pattern does not match, then an atomic rename.
  const tmp = `${dir.replace(/\/+$/, "")}/.${opts.instance}.json.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify([group]) + "\n", { mode: 0o644 });
  await Deno.chmod(tmp, 0o644);
  await Deno.rename(tmp, path);
  log.info("metrics_target_published", { path, target: opts.address });
  return {
    path,
    async remove() {
      try {
        if ((await readPid(path)) !== Deno.pid) return;
        await Deno.remove(path);
        log.info("metrics_target_removed", { path });
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return;
        log.warn("metrics_target_remove_failed", { path, reason: (err as Error).message });
      }
    },
  };
}

async function readPid(path: string): Promise<number | undefined> {
  const groups = JSON.parse(await Deno.readTextFile(path)) as TargetGroup[];
  const pid = Number(groups?.[0]?.labels?.[PID_LABEL]);
  return Number.isInteger(pid) ? pid : undefined;
}

/** Removes target files in the directory whose writer's pid no longer exists. */
async function sweepStale(opts: MetricsTargetOptions): Promise<void> {
  for await (const entry of Deno.readDir(opts.dir)) {
    if (!entry.isFile || !entry.name.endsWith(".json")) continue;
    const path = `${opts.dir.replace(/\/+$/, "")}/${entry.name}`;
    let pid: number | undefined;
    try {
      pid = await readPid(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      // Not one of ours (someone else's file_sd file, or half-written): leave it.
      opts.log.debug("metrics_target_unreadable", { path, reason: (err as Error).message });
      continue;
    }
    if (pid === undefined || pid === Deno.pid || opts.processExists(pid)) continue;
    try {
      await Deno.remove(path);
      opts.log.info("metrics_target_stale_removed", { path, pid });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        opts.log.warn("metrics_target_remove_failed", { path, reason: (err as Error).message });
      }
    }
  }
}
