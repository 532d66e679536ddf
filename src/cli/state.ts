/**
 * `retrovue_playout state export|import`: one JSON file with the configuration and the active
 * playout plans, for nightly backups and for provisioning a warm standby.
 *
 *   state export [--config FILE] [--out FILE | --out-dir DIR [--keep N]]
 *   state import FILE [--config DEST] [--state-dir DIR]
 *
 * `--out-dir` writes a dated file `DIR/retrovue-playout-state-YYYY-MM-DD.json` (UTC date;
 * a second export the same day replaces it, atomically) and then keeps only the newest N
 * dated files (`--keep`, default {@link DEFAULT_BACKUP_KEEP}); the nightly systemd timer
 * (`retrovue-playout-backup.timer`) runs it.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import {
  ConfigError,
  EMBEDDED_DEFAULT_CONFIG,
  instanceName,
  loadConfigFile,
  parseConfigText,
} from "../config/mod.ts";
import { type ActivePlans, checkActivePlans, PlanStore } from "../engine/plan_store.ts";
import { stateDirFor, windowsConfigPath } from "../config/windows_defaults.ts";
import { isDeviceId, keepDeviceId, readKeptDeviceId } from "../outputs/tuner_identity.ts";

const env = (name: string) => Deno.env.get(name);

/** Where the .deb keeps the configuration. */
export const DEFAULT_CONFIG_PATH = "/etc/retrovue-playout/config.toml";

/** The backup document. */
export interface StateBackup {
  kind: "retrovue-playout-state";
  version: 1;
  engineVersion: string;
  exportedAtMs: number;
  /** The configuration file's text; null when the engine runs on the embedded default. */
  configToml: string | null;
  activePlans: ActivePlans | null;
  /**
   * The HDHomeRun DeviceID kept in the state directory (Plex and Jellyfin key the tuner by
   * it), so a restored host is the same tuner; null when none is kept. Absent in older backups.
   */
  deviceId?: string | null;
}

/** A backup file that is not one, or whose parts are invalid. */
export class StateBackupError extends Error {
  override name = "StateBackupError";
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}`);
  }
}

const USAGE =
  `Usage: retrovue_playout state export [--config FILE] [--out FILE | --out-dir DIR [--keep N]]
       retrovue_playout state import FILE [--config DEST] [--state-dir DIR]`;

/** Dated backups `state export --out-dir` keeps by default. */
export const DEFAULT_BACKUP_KEEP = 14;

/** Name of the dated backup file of `date` (its UTC day). */
export function datedBackupName(date: Date): string {
  return `retrovue-playout-state-${date.toISOString().slice(0, 10)}.json`;
}

const DATED_BACKUP = /^retrovue-playout-state-\d{4}-\d{2}-\d{2}\.json$/;

/** Runs `state ...`; resolves with the exit code. */
export async function runStateCommand(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (
      a === "--config" || a === "--out" || a === "--state-dir" || a === "--out-dir" ||
      a === "--keep"
    ) {
      const v = rest[++i];
      if (v === undefined) return usage(`${a} needs a value`);
      flags.set(a, v);
    } else if (a.startsWith("--")) return usage(`unknown option ${a}`);
    else positional.push(a);
  }
  try {
    if (verb === "export" && positional.length === 0) {
      const out = flags.get("--out");
      const outDir = flags.get("--out-dir");
      const keepText = flags.get("--keep");
      if (out !== undefined && outDir !== undefined) {
        return usage("--out and --out-dir exclude each other");
      }
      if (keepText !== undefined && outDir === undefined) return usage("--keep needs --out-dir");
      const keep = keepText === undefined ? DEFAULT_BACKUP_KEEP : Number(keepText);
      if (!Number.isInteger(keep) || keep < 1) {
        return usage(`--keep must be a whole number >= 1, got ${JSON.stringify(keepText)}`);
      }
      const backup = await exportState(flags.get("--config"));
      const text = JSON.stringify(backup, null, 2) + "\n";
      if (outDir !== undefined) {
        const { written, removed } = await writeDatedBackup(outDir, text, keep, new Date());
        console.log(`wrote ${written}`);
        for (const r of removed) console.log(`removed ${r}`);
      } else if (out) await Deno.writeTextFile(out, text);
      else await Deno.stdout.write(new TextEncoder().encode(text));
      return 0;
    }
    if (verb === "import" && positional.length === 1) {
      const written = await importState(positional[0], {
        configPath: flags.get("--config") ??
          (Deno.build.os === "windows" ? windowsConfigPath(env) : DEFAULT_CONFIG_PATH),
        stateDir: flags.get("--state-dir"),
      });
      for (const w of written) console.log(`wrote ${w}`);
      return 0;
    }
    return usage(verb ? `cannot "${verb}" with these arguments` : "export or import?");
  } catch (err) {
    if (err instanceof ConfigError || err instanceof StateBackupError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
}

/**
 * Writes `text` as the dated backup of `now` in `dir` (created if needed; written to a
 * temporary name and renamed, so a reader never sees half a file), then removes the oldest
 * dated backups beyond `keep`. Other files in `dir` are left alone.
 */
export async function writeDatedBackup(
  dir: string,
  text: string,
  keep: number,
  now: Date,
): Promise<{ written: string; removed: string[] }> {
  await Deno.mkdir(dir, { recursive: true });
  const written = `${dir.replace(/\/+$/, "")}/${datedBackupName(now)}`;
  const tmp = `${written}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, text, { mode: 0o640 });
  await Deno.rename(tmp, written);
  const dated: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && DATED_BACKUP.test(e.name)) dated.push(e.name);
  }
  // ISO dates sort by name; newest first.
  dated.sort().reverse();
  const removed: string[] = [];
  for (const name of dated.slice(keep)) {
    const path = `${dir.replace(/\/+$/, "")}/${name}`;
    await Deno.remove(path);
    removed.push(path);
  }
  return { written, removed };
}

function usage(problem: string): number {
  console.error(`state: ${problem}\n\n${USAGE}`);
  return 2;
}

/** Reads the configuration (file or embedded default) and the active plans it points at. */
export async function exportState(configFile: string | undefined): Promise<StateBackup> {
  const config = configFile ? await loadConfigFile(configFile) : EMBEDDED_DEFAULT_CONFIG;
  const configToml = configFile ? await Deno.readTextFile(configFile) : null;
  const stateDir = stateDirFor(config, Deno.build.os, env);
  const activePlans = (await new PlanStore(stateDir, instanceName(config)).read()) ?? null;
  const deviceId = (await readKeptDeviceId(stateDir)) ?? null;
  return {
    kind: "retrovue-playout-state",
    version: 1,
    engineVersion: denoJson.version,
    exportedAtMs: Date.now(),
    configToml,
    activePlans,
    deviceId,
  };
}

/**
 * Validates a backup and writes its configuration to `configPath` and its plans into the
 * state directory (`stateDir`, else the one the imported configuration names). Nothing is
 * written when any part is invalid. Returns the paths written.
 */
export async function importState(
  file: string,
  opts: { configPath: string; stateDir?: string },
): Promise<string[]> {
  let doc: Partial<StateBackup>;
  try {
    doc = JSON.parse(await Deno.readTextFile(file));
  } catch (err) {
    throw new StateBackupError(file, `cannot read a JSON backup: ${(err as Error).message}`);
  }
  if (doc?.kind !== "retrovue-playout-state") {
    throw new StateBackupError(file, `not a retrovue-playout state backup (kind ${doc?.kind})`);
  }
  if (doc.version !== 1) {
    throw new StateBackupError(file, `backup version ${doc.version} unsupported`);
  }
  const config = typeof doc.configToml === "string"
    ? await parseConfigText(doc.configToml, {
      source: `${file}: configToml`,
      // Relative media paths will be relative to where the configuration is written.
      baseDir: opts.configPath.replace(/\/[^/]*$/, "") || "/",
    })
    : EMBEDDED_DEFAULT_CONFIG;
  const plans = doc.activePlans ? checkActivePlans(doc.activePlans, `${file}: activePlans`) : null;
  const deviceId = doc.deviceId ?? null;
  if (deviceId !== null && (typeof deviceId !== "string" || !isDeviceId(deviceId))) {
    throw new StateBackupError(
      file,
      `deviceId ${JSON.stringify(deviceId)} is not 8 hex digits like "1A2B3C4D"`,
    );
  }
  const stateDir = opts.stateDir ?? stateDirFor(config, Deno.build.os, env);
  const written: string[] = [];
  if (typeof doc.configToml === "string") {
    await Deno.writeTextFile(opts.configPath, doc.configToml);
    written.push(opts.configPath);
  }
  if (plans) {
    const store = new PlanStore(stateDir, instanceName(config));
    await store.write(plans.channels);
    written.push(store.path);
  }
  if (deviceId !== null) written.push(await keepDeviceId(stateDir, deviceId));
  return written;
}
