/**
 * `retrovue_playout state export|import`: one JSON file with the configuration and the active
 * playout plans, for nightly backups and for provisioning a warm standby.
 *
 *   state export [--config FILE] [--out FILE]
 *   state import FILE [--config DEST] [--state-dir DIR]
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
}

/** A backup file that is not one, or whose parts are invalid. */
export class StateBackupError extends Error {
  override name = "StateBackupError";
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}`);
  }
}

const USAGE = `Usage: retrovue_playout state export [--config FILE] [--out FILE]
       retrovue_playout state import FILE [--config DEST] [--state-dir DIR]`;

/** Runs `state ...`; resolves with the exit code. */
export async function runStateCommand(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === "--config" || a === "--out" || a === "--state-dir") {
      const v = rest[++i];
      if (v === undefined) return usage(`${a} needs a value`);
      flags.set(a, v);
    } else if (a.startsWith("--")) return usage(`unknown option ${a}`);
    else positional.push(a);
  }
  try {
    if (verb === "export" && positional.length === 0) {
      const backup = await exportState(flags.get("--config"));
      const text = JSON.stringify(backup, null, 2) + "\n";
      const out = flags.get("--out");
      if (out) await Deno.writeTextFile(out, text);
      else await Deno.stdout.write(new TextEncoder().encode(text));
      return 0;
    }
    if (verb === "import" && positional.length === 1) {
      const written = await importState(positional[0], {
        configPath: flags.get("--config") ?? DEFAULT_CONFIG_PATH,
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

function usage(problem: string): number {
  console.error(`state: ${problem}\n\n${USAGE}`);
  return 2;
}

/** Reads the configuration (file or embedded default) and the active plans it points at. */
export async function exportState(configFile: string | undefined): Promise<StateBackup> {
  const config = configFile ? await loadConfigFile(configFile) : EMBEDDED_DEFAULT_CONFIG;
  const configToml = configFile ? await Deno.readTextFile(configFile) : null;
  const activePlans = (await new PlanStore(config.state_dir, instanceName(config)).read()) ??
    null;
  return {
    kind: "retrovue-playout-state",
    version: 1,
    engineVersion: denoJson.version,
    exportedAtMs: Date.now(),
    configToml,
    activePlans,
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
  const written: string[] = [];
  if (typeof doc.configToml === "string") {
    await Deno.writeTextFile(opts.configPath, doc.configToml);
    written.push(opts.configPath);
  }
  if (plans) {
    const store = new PlanStore(opts.stateDir ?? config.state_dir, instanceName(config));
    await store.write(plans.channels);
    written.push(store.path);
  }
  return written;
}
