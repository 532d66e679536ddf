import assert from "node:assert/strict";
import { createPlayoutMetrics } from "../src/observability/metrics.ts";
import { Logger } from "../src/log/log.ts";
import { LOG_EVENTS } from "../src/log/log_events.ts";
import { FakeSurface, parsePromText, type PromFamily } from "./observability_fixtures.ts";

const PACKAGING = new URL("../packaging/", import.meta.url);
const RULES = new URL("prometheus/retrovue-playout-rules.yml", PACKAGING).pathname;
const RULES_TEST = new URL("prometheus/retrovue-playout-rules.test.yml", PACKAGING).pathname;
const PROM_CONFIG = new URL("prometheus/prometheus-example.yml", PACKAGING).pathname;
const DASHBOARD = new URL("grafana/retrovue-playout.json", PACKAGING).pathname;

async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command("promtool", { args, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

/** Families of a scrape with one busy channel, process metrics included. */
async function scrapeFamilies(): Promise<Map<string, PromFamily>> {
  const surface = new FakeSurface();
  const ch = surface.add(1, "ready");
  ch.stats!.decodeLatencySamples = [0.004];
  ch.stats!.attachReconnects = 0;
  const m = createPlayoutMetrics({
    surface,
    buildInfo: { version: "0.1.0", apiVersion: "1.0.0", ffmpeg: {} },
    log: new Logger({ write: () => {} }),
    sampleIntervalMs: 0,
  });
  try {
    return parsePromText(await m.scrape());
  } finally {
    m.close();
  }
}

const PROMQL_WORDS = new Set([
  "abs",
  "and",
  "avg",
  "by",
  "histogram_quantile",
  "increase",
  "label_values",
  "max",
  "min",
  "on",
  "rate",
  "sum",
  "without",
]);

/** Metric names an expression selects (label matchers, ranges and grouping removed). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(by|without|on)\s*\([^)]*\)/g, "")
    .replace(/label_values\(([^,)]*),[^)]*\)/g, "$1");
  return [...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)]
    .map((m) => m[0])
    .filter((t) => !PROMQL_WORDS.has(t));
}

function exists(families: Map<string, PromFamily>, name: string): boolean {
  if (families.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m !== null && families.get(m[1])?.type === "histogram";
}

interface Dashboard {
  title: string;
  uid: string;
  panels: {
    id: number;
    title: string;
    datasource: { uid: string };
    gridPos: { x: number; y: number; w: number; h: number };
    targets: { expr: string; datasource: { uid: string } }[];
  }[];
  templating: { list: { name: string; query: string | { query: string } }[] };
}

Deno.test("promtool check rules passes on the alert rules", async () => {
  const r = await promtool("check", "rules", RULES);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /SUCCESS: 12 rules found/);
});

Deno.test("the alert rules pass their promtool unit tests", async () => {
  const r = await promtool("test", "rules", RULES_TEST);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /SUCCESS/);
});

Deno.test("the example Prometheus config is valid and loads the rules", async () => {
  const r = await promtool("check", "config", PROM_CONFIG);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /SUCCESS: 1 rule files found/);
});

Deno.test("alert rules reference only metrics the engine exports", async () => {
  const families = await scrapeFamilies();
  const rules = await Deno.readTextFile(RULES);
  const exprs = [...rules.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]);
  assert.equal(exprs.length, 12);
  for (const expr of exprs) {
    for (const name of metricNames(expr)) {
      assert.ok(name === "up" || exists(families, name), `${expr}: ${name} is not exported`);
    }
  }
});

Deno.test("the Grafana dashboard parses and references only exported metrics", async () => {
  const families = await scrapeFamilies();
  const dash: Dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD));
  assert.equal(dash.uid, "retrovue-playout");

  const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
  const variableQueries = dash.templating.list
    .filter((v) => v.name !== "datasource")
    .map((v) => (typeof v.query === "string" ? v.query : v.query.query));
  const referenced = new Set<string>();
  for (const expr of [...exprs, ...variableQueries]) {
    const names = metricNames(expr);
    assert.ok(names.length > 0, `no metric in ${expr}`);
    for (const name of names) {
      assert.ok(exists(families, name), `${expr}: ${name} is not exported`);
      referenced.add(name.replace(/_bucket$/, ""));
    }
  }
  // The main panels of the issue: channel state, lag, frame gaps, fallback frames, viewers,
  // TS bitrate, CPU/RSS.
  for (
    const name of [
      "retrovue_playout_channel_state",
      "retrovue_playout_wallclock_lag_seconds",
      "retrovue_playout_frame_gap_seconds",
      "retrovue_playout_fallback_frames_total",
      "retrovue_playout_viewers_connected",
      "retrovue_playout_ts_bytes_total",
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
    ]
  ) assert.ok(referenced.has(name), `dashboard has no panel for ${name}`);

  // Panels use the datasource variable, have unique ids and do not overlap.
  assert.equal(new Set(dash.panels.map((p) => p.id)).size, dash.panels.length);
  for (const p of dash.panels) {
    assert.equal(p.datasource.uid, "${datasource}", p.title);
    for (const t of p.targets) assert.equal(t.datasource.uid, "${datasource}", p.title);
  }
  for (const a of dash.panels) {
    for (const b of dash.panels) {
      if (a.id >= b.id) continue;
      const ga = a.gridPos, gb = b.gridPos;
      const overlap = ga.x < gb.x + gb.w && gb.x < ga.x + ga.w && ga.y < gb.y + gb.h &&
        gb.y < ga.y + ga.h;
      assert.ok(!overlap, `panels "${a.title}" and "${b.title}" overlap`);
      assert.ok(ga.x + ga.w <= 24, `panel "${a.title}" is wider than the grid`);
    }
  }
});

Deno.test("every dashboard query is valid PromQL (checked by promtool)", async () => {
  const dash: Dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD));
  const rules = dash.panels.flatMap((p) => p.targets).map((t, i) => ({
    record: `dashboard:query_${i}`,
    expr: t.expr
      .replaceAll("$__rate_interval", "1m")
      .replaceAll("$instance", ".*")
      .replaceAll("$channel", ".*"),
  }));
  assert.ok(rules.length >= 10);
  const dir = await Deno.makeTempDir({ prefix: "observability_packaging_" });
  try {
    const file = `${dir}/dashboard-queries.yml`;
    // JSON is YAML: promtool reads it as a rule file.
    await Deno.writeTextFile(file, JSON.stringify({ groups: [{ name: "dashboard", rules }] }));
    const r = await promtool("check", "rules", file);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, new RegExp(`SUCCESS: ${rules.length} rules found`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the monitoring README documents every exported metric with its type", async () => {
  const families = await scrapeFamilies();
  const readme = await Deno.readTextFile(new URL("prometheus/README.md", PACKAGING));
  const documented = new Map(
    [...readme.matchAll(/^\| `(retrovue_playout_[a-z_]+)` *\| ([a-z]+) *\|/gm)].map((m) => [
      m[1],
      m[2],
    ]),
  );
  const exported = new Map(
    [...families.values()]
      .filter((f) => f.name.startsWith("retrovue_playout_"))
      .map((f) => [f.name, f.type]),
  );
  assert.deepEqual(
    [...documented].sort(),
    [...exported].sort(),
  );
  for (const name of Object.values(LOG_EVENTS)) {
    assert.ok(readme.includes(`\`${name}\``) || readme.includes(`"${name}"`), name);
  }
});
