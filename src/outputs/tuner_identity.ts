/**
 * The HDHomeRun DeviceID an engine presents to Plex and Jellyfin. They key a tuner (and its
 * guide mapping) by it, so it must be stable across restarts and reinstalls that keep the
 * state directory, and differ between engines: the configured `tuner.device_id`, else one
 * generated once and kept in `<state_dir>/device_id`.
 *
 * @module
 */

import { join } from "node:path";

/** Where the DeviceID came from. */
export type DeviceIdSource = "config" | "state" | "generated" | "unsaved";

/** The DeviceID in force. */
export interface DeviceIdentity {
  /** 8 hex digits, upper case. */
  id: string;
  source: DeviceIdSource;
  /** The file it is kept in (sources `state` and `generated`). */
  path?: string;
  /** Why a generated id could not be saved (source `unsaved`). */
  reason?: string;
}

const DEVICE_ID = /^[0-9A-F]{8}$/;

/** File name of the kept DeviceID inside the state directory. */
export const DEVICE_ID_FILE = "device_id";

/**
 * The configured id, else the one kept in `stateDir`, else a new random one written there
 * (atomically). A state directory that cannot be written gives an id that holds until the
 * process exits (source `unsaved`, with the reason).
 */
export async function loadDeviceId(
  stateDir: string,
  configured: string | undefined,
): Promise<DeviceIdentity> {
  if (configured !== undefined) return { id: configured.toUpperCase(), source: "config" };
  const path = join(stateDir, DEVICE_ID_FILE);
  try {
    const kept = await readKeptDeviceId(stateDir);
    if (kept !== undefined) return { id: kept, source: "state", path };
  } catch (err) {
    return { id: randomId(), source: "unsaved", reason: (err as Error).message };
  }
  const id = randomId();
  try {
    await keepDeviceId(stateDir, id);
    return { id, source: "generated", path };
  } catch (err) {
    return { id, source: "unsaved", reason: (err as Error).message };
  }
}

/** Whether `id` is a DeviceID (8 hex digits, either case). */
export function isDeviceId(id: string): boolean {
  return DEVICE_ID.test(id.toUpperCase());
}

/**
 * The DeviceID kept in `stateDir` (upper case), or undefined when there is none or the file
 * does not hold one. Throws when the file exists but cannot be read.
 */
export async function readKeptDeviceId(stateDir: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(stateDir, DEVICE_ID_FILE));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  const kept = text.trim().toUpperCase();
  return DEVICE_ID.test(kept) ? kept : undefined;
}

/** Keeps `id` in `stateDir` (created if missing), atomically. */
export async function keepDeviceId(stateDir: string, id: string): Promise<string> {
  const path = join(stateDir, DEVICE_ID_FILE);
  await Deno.mkdir(stateDir, { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, id.toUpperCase() + "\n");
  await Deno.rename(tmp, path);
  return path;
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("").toUpperCase();
}
