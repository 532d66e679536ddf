/**
 * Test fixtures for the observability tests: an in-test control surface whose values tests
 * change, and a parser for the Prometheus text format.
 *
 * @module
 */

import type {
  FanoutCounters,
  MetricsChannelInfo,
  MetricsChannelStats,
  MetricsSource,
} from "../src/observability/metrics.ts";
import type { HealthChannelInfo, HealthSource } from "../src/observability/health_server.ts";

/** A channel as the fake surface holds it. */
export interface FakeChannel {
  info: MetricsChannelInfo & HealthChannelInfo;
  stats: MetricsChannelStats | undefined;
  fanout: { viewerCount: number; viewersDropped: number; bytesOut?: number } | undefined;
}

/** Stats of a channel that has done nothing yet. */
export function zeroStats(): MetricsChannelStats {
  return {
    framesOut: 0,
    framesDecoded: 0,
    framesDropped: 0,
    framesDuplicated: 0,
    fallbackFrames: 0,
    padFrames: 0,
    bufferDepthFrames: 0,
    bufferUnderruns: 0,
    decodeFailures: 0,
    decodeLatencySamples: [],
    frameGapSeconds: 0,
    lagSeconds: 0,
    encodeFps: 0,
    tsBytesOut: 0,
    assetTransitions: 0,
    planUpdates: 0,
    restarts: 0,
    segmentBoundaryErrorMs: 0,
    tsSelfCheckCcErrors: 0,
    tsSelfCheckPcrErrors: 0,
    framesRepeated: 0,
    framesLate: 0,
    tsPicturesLost: 0,
    framesShared: 0,
    pictureDecimation: 1,
  };
}

/** The read-only part of the control surface, with values a test sets. */
export class FakeSurface implements MetricsSource, HealthSource {
  readonly channels = new Map<number, FakeChannel>();

  /** Adds a channel in `state`. */
  add(id: number, state: MetricsChannelInfo["state"], name = `ch${id}`): FakeChannel {
    const ch: FakeChannel = {
      info: {
        id,
        name,
        state,
        stateReason: "",
        meantOnAir: true,
        startedAtMs: state === "stopped" ? undefined : Date.now() - 5000,
        mode: "block",
      },
      stats: state === "stopped" ? undefined : zeroStats(),
      fanout: { viewerCount: 0, viewersDropped: 0, bytesOut: 0 },
    };
    this.channels.set(id, ch);
    return ch;
  }

  /** The channel `id`; throws when unknown. */
  ch(id: number): FakeChannel {
    const ch = this.channels.get(id);
    if (ch === undefined) throw new Error(`no channel ${id}`);
    return ch;
  }

  list(): (MetricsChannelInfo & HealthChannelInfo)[] {
    return [...this.channels.values()].map((c) => ({ ...c.info }));
  }

  stats(id: number): MetricsChannelStats | undefined {
    return this.channels.get(id)?.stats;
  }

  fanout(id: number): FanoutCounters | undefined {
    return this.channels.get(id)?.fanout;
  }
}

/** One sample line of a scrape. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A metric family of a scrape. */
export interface PromFamily {
  name: string;
  type: string;
  help: string;
  samples: PromSample[];
}

/** Parses Prometheus text format 0.0.4 into families keyed by name. */
export function parsePromText(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const family = (name: string) => {
    let f = families.get(name);
    if (f === undefined) {
      f = { name, type: "untyped", help: "", samples: [] };
      families.set(name, f);
    }
    return f;
  };
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    let m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (m) {
      if (m[1] === "HELP") family(m[2]).help = m[3];
      else family(m[2]).type = m[3];
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable line: ${line}`);
    const [, name, labelText, value] = m;
    const labels: Record<string, string> = {};
    for (const lm of (labelText ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    }
    const base = families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, "");
    family(families.has(base) ? base : name).samples.push({
      name,
      labels,
      value: Number(value),
    });
  }
  return families;
}

/** The value of the sample `name` whose labels include `labels`; undefined when absent. */
export function sampleValue(
  families: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}
