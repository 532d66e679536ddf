/**
 * `deno task bench`: every benchmark, side by side with its reference (the `ffmpeg` CLI doing
 * the same job in the same run). Prints a table and writes JSON to bench/results/.
 *
 * `deno task bench [ffi|engine|engine_cpu|frame_sink|responsiveness|realtime]... [--quick]` runs
 * only the named ones (`engine_cpu`: one channel's CPU, engine and ffmpeg taking turns;
 * `pipeline`: a channel's media work per frame on one thread each, vs the ffmpeg CLI). `realtime` is the overload scenario of issue 16 (a 1080p60 x264 slow channel beside
 * two light ones). `--quick` makes the engine bench a one-run smoke test of itself (short windows).
 * `responsiveness` holds the timing judgements kept out of the tests (timer gaps, pacing
 * lateness, push cost with a stalled reader, stop time), each against its target.
 *
 * @module
 */

import { runFfiBench } from "./ffi_bench.ts";
import { runEngineBench, runEngineCpuBench } from "./engine_bench.ts";
import { runResponsivenessBench } from "./responsiveness_bench.ts";
import { runRealtimeBench } from "./realtime_bench.ts";
import { runPipelineBench } from "./pipeline_bench.ts";

type Bench = () => Promise<Record<string, unknown>>;

const BENCHES: Record<string, () => Promise<Bench>> = {
  ffi: () => Promise.resolve(() => runFfiBench()),
  engine: () => Promise.resolve(() => runEngineBench({ quick })),
  engine_cpu: () => Promise.resolve(() => runEngineCpuBench({ quick })),
  pipeline: () => Promise.resolve(() => runPipelineBench({ quick })),
  responsiveness: () => Promise.resolve(() => runResponsivenessBench()),
  realtime: () => Promise.resolve(() => runRealtimeBench()),
  frame_sink: async () => {
    const mod = await import("./frame_sink_bench.ts");
    return async () => ({ transports: await mod.runFrameSinkBench() });
  },
};

const quick = Deno.args.includes("--quick");
const named = Deno.args.filter((a) => a !== "--quick");
// engine_cpu is part of engine; alone it is for before/after comparisons.
const wanted = named.length ? named : Object.keys(BENCHES).filter((b) => b !== "engine_cpu");
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  cpus: navigator.hardwareConcurrency,
  deno: Deno.version.deno,
};
for (const name of wanted) {
  const load = BENCHES[name];
  if (!load) {
    console.error(`unknown benchmark ${JSON.stringify(name)}; known: ${Object.keys(BENCHES)}`);
    Deno.exit(2);
  }
  console.log(`== ${name}`);
  const started = performance.now();
  const r = await (await load())();
  results[name] = r;
  console.table(flatten(r));
  console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
const dir = new URL("./results/", import.meta.url).pathname;
await Deno.mkdir(dir, { recursive: true });
const file = `${dir}bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
await Deno.writeTextFile(file, JSON.stringify(results, null, 2) + "\n");
console.log(`results: ${file}`);

function flatten(o: Record<string, unknown>, prefix = ""): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      Object.assign(out, flatten(v as Record<string, unknown>, `${prefix}${k}.`));
    } else out[`${prefix}${k}`] = v;
  }
  return out;
}
