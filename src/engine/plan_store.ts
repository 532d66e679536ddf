/**
 * The engine's active playout plans on disk (`<state_dir>/active-plans.json`): what every
 * channel is playing, so that a restarted engine or a warm standby can pick the plans up
 * and an operator can back them up with `retrovue_playout state export`.
 *
 * @module
 */

import type { StreamTransport } from "../../media/channel_status.ts";
import type { BlockPlan } from "./plan.ts";
import type { ProgramFormat } from "../../media/program_format.ts";

/** File name of the default instance's store inside the state directory. */
export const ACTIVE_PLANS_FILE = "active-plans.json";

/**
 * File name of the store of engine instance `instance` (`src/config/instance.ts`):
 * {@link ACTIVE_PLANS_FILE} for the default instance, else `active-plans.<instance>.json`.
 */
export function activePlansFileName(instance: string): string {
  return instance === "default" ? ACTIVE_PLANS_FILE : `active-plans.${instance}.json`;
}

/** What one channel is playing. */
export interface ChannelPlanState {
  id: number;
  format?: ProgramFormat;
  attached?: { transport: StreamTransport; endpoint: string };
  /** Block mode: blocks queued or on air (completed ones are gone). */
  blockSession?: { blocks: BlockPlan[]; maxQueueDepth: number };
  /** Segment mode: the plan handle StartChannel/UpdatePlan last gave. */
  segmentPlan?: { planHandle: string };
}

/** The whole file. */
export interface ActivePlans {
  kind: "retrovue-playout-active-plans";
  version: 1;
  savedAtMs: number;
  channels: ChannelPlanState[];
}

/** The store file is there but not an active-plans document. */
export class PlanStoreFormatError extends Error {
  override name = "PlanStoreFormatError";
  constructor(readonly path: string, reason: string) {
    super(`${path}: not a retrovue-playout active-plans file (${reason})`);
  }
}

/** Checks the shape of a parsed active-plans document; throws {@link PlanStoreFormatError}. */
export function checkActivePlans(value: unknown, path: string): ActivePlans {
  const v = value as Partial<ActivePlans> | null;
  if (typeof v !== "object" || v === null) throw new PlanStoreFormatError(path, "not an object");
  if (v.kind !== "retrovue-playout-active-plans") {
    throw new PlanStoreFormatError(path, `kind is ${JSON.stringify(v.kind)}`);
  }
  if (v.version !== 1) throw new PlanStoreFormatError(path, `version ${v.version} unsupported`);
  if (!Array.isArray(v.channels)) throw new PlanStoreFormatError(path, "channels is not a list");
  for (const [i, c] of v.channels.entries()) {
    if (!Number.isInteger(c?.id) || c.id < 1) {
      throw new PlanStoreFormatError(path, `channels[${i}].id is not a channel id`);
    }
  }
  return v as ActivePlans;
}

/**
 * Reads and writes one engine instance's active-plans file atomically. Engines sharing a
 * state directory each have their own file.
 */
export class PlanStore {
  readonly path: string;
  #dir: string;

  /** The store of `instance` (default: the default instance) in `stateDir`. */
  constructor(stateDir: string, instance = "default") {
    this.#dir = stateDir;
    this.path = `${stateDir.replace(/\/+$/, "")}/${activePlansFileName(instance)}`;
  }

  /** The stored plans, or undefined when there is no file. */
  async read(): Promise<ActivePlans | undefined> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new PlanStoreFormatError(this.path, (err as Error).message);
    }
    return checkActivePlans(value, this.path);
  }

  /** Replaces the file (write to a temp file, then rename). */
  async write(channels: ChannelPlanState[]): Promise<void> {
    const doc: ActivePlans = {
      kind: "retrovue-playout-active-plans",
      version: 1,
      savedAtMs: Date.now(),
      channels,
    };
    await Deno.mkdir(this.#dir, { recursive: true });
    const tmp = `${this.path}.${Deno.pid}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(doc, null, 2) + "\n");
    await Deno.rename(tmp, this.path);
  }
}
