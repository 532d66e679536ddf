/**
 * Log event names are checked by the type system: `Logger` and `RateLimitedLog` take only names
 * in the registry (src/log/log_events.ts). Shown by type-checking a module that logs a
 * registered name (accepted) and one that logs an unregistered name (refused by `deno check`).
 */

import { assert, assertEquals } from "./assert.ts";
import { LOG_EVENTS } from "../src/log/log_events.ts";

const LOG_MODULE = new URL("../src/log/log.ts", import.meta.url).href;
const LIMITER_MODULE = new URL("../src/log/log_limiter.ts", import.meta.url).href;

async function typeChecks(body: string): Promise<{ ok: boolean; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "log_event_names_" });
  try {
    const file = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      file,
      `import { Logger } from "${LOG_MODULE}";\n` +
        `import { RateLimitedLog } from "${LIMITER_MODULE}";\n` +
        `const log = new Logger({ write: () => {} });\n` +
        `const limited = new RateLimitedLog(log);\n` +
        `${body}\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { ok: out.success, stderr: new TextDecoder().decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a registered event name type-checks; an unregistered one does not", async () => {
  const good = await typeChecks(
    'log.info("channel_started", { channel: 1 });\n' +
      'limited.warn("asset_error", { channel: 1 });',
  );
  assert(good.ok, good.stderr);
  const bad = await typeChecks('log.info("channel_startd", { channel: 1 });');
  assert(!bad.ok, "an unregistered name passed deno check");
  assert(bad.stderr.includes("channel_startd"), bad.stderr);
  const badLimited = await typeChecks('limited.warn("asset_eror", {});');
  assert(!badLimited.ok, "an unregistered name passed the rate limiter's type");
});

Deno.test("registry names are unique and snake_case", () => {
  const names = Object.values(LOG_EVENTS) as string[];
  assertEquals(names.filter((n, i) => names.indexOf(n) !== i), []);
  assertEquals(names.filter((n) => !/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(n)), []);
});
