/**
 * The two build layouts without installing anything: `deno compile` honours `DENORT_BIN` and
 * refuses an executable that does not run the program; the runtime+bundle layout's launcher
 * runs the bundled program with its worker and FFI under exactly the compiled permissions;
 * worker sites the bundle cannot carry fail the build. Uses the packaging stand-in entry
 * (packaging/stand_in_main.ts), so it does not depend on the engine's state.
 */

import assert from "node:assert/strict";
import { buildBundleLayout } from "../packaging/bundle_layout.ts";
import { compileExecutable } from "../packaging/compile.ts";
import { probeDenort } from "../packaging/denort.ts";
import { highestGlibcVersion } from "../packaging/elf_glibc.ts";
import { COMMAND_NAME, readPackageVersion, REPO_ROOT } from "../packaging/package_metadata.ts";
import { RUNTIME_PERMISSION_FLAGS } from "../packaging/permissions.ts";
import {
  findWorkerEntries,
  findWorkerSites,
  UnsupportedWorkerSiteError,
} from "../packaging/worker_entries.ts";

const STAND_IN = `${REPO_ROOT}/packaging/stand_in_main.ts`;
const decoder = new TextDecoder();

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "packaging_build_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("denort probe: DENORT_BIN naming no file is a reason, not a hang", async () => {
  const r = await probeDenort({ env: { DENORT_BIN: "/nonexistent/denort" } });
  assert.deepEqual(r, { available: false, reason: "DENORT_BIN=/nonexistent/denort is not a file" });
});

Deno.test("denort probe: a cached denort zip counts; an unreachable host is a reason", async () => {
  await withTempDir(async (dir) => {
    const env = { DENO_DIR: dir };
    const zip = `${dir}/dl/release/v9.9.9/denort-x86_64-unknown-linux-gnu.zip`;
    const opts = {
      env,
      denoVersion: "9.9.9",
      target: "x86_64-unknown-linux-gnu",
      downloadHost: "http://127.0.0.1:9", // discard port: connection refused at once
      probeTimeoutMs: 2000,
    };
    const missing = await probeDenort(opts);
    assert.equal(missing.available, false);
    assert.match((missing as { reason: string }).reason, /unreachable/);
    await Deno.mkdir(`${dir}/dl/release/v9.9.9`, { recursive: true });
    await Deno.writeFile(zip, new Uint8Array([0x50, 0x4b]));
    assert.deepEqual(await probeDenort(opts), { available: true, source: zip });
  });
});

Deno.test("compile: DENORT_BIN set to the deno CLI is refused by the --version check", async () => {
  await withTempDir(async (dir) => {
    // A program that prints the right version: only the runtime it is built on can be wrong.
    const version = await readPackageVersion();
    const entry = `${dir}/main.ts`;
    await Deno.writeTextFile(entry, `console.log("retrovue_playout ${version}");\n`);
    const output = `${dir}/${COMMAND_NAME}`;
    const outcome = await compileExecutable({
      entry,
      output,
      version,
      env: { ...Deno.env.toObject(), DENORT_BIN: Deno.execPath() },
    });
    assert.equal(outcome.ok, false);
    const reason = (outcome as { reason: string }).reason;
    assert.match(reason, /does not run the program: .*printed "deno \d/, reason);
    assert.match(reason, new RegExp(`DENORT_BIN=${Deno.execPath()}`), reason);
    await assert.rejects(Deno.stat(output), Deno.errors.NotFound);
  });
});

Deno.test("runtime+bundle layout: the launcher runs the program, its worker and FFI", async () => {
  await withTempDir(async (dir) => {
    const prefix = `${dir}/opt/retrovue-playout`;
    const layout = await buildBundleLayout({ entry: STAND_IN, prefix });
    assert.equal(layout.command, `${prefix}/bin/${COMMAND_NAME}`);
    assert.deepEqual(layout.workers, [`${prefix}/lib/workers/stand_in_worker.js`]);

    // Same permissions as the compiled executable, and nothing broader.
    const launcher = await Deno.readTextFile(layout.command);
    for (const flag of RUNTIME_PERMISSION_FLAGS) assert.ok(launcher.includes(` ${flag}`), flag);
    assert.doesNotMatch(launcher, /--allow-all|-A\b|--allow-run|--allow-import/);

    // Run through a symlink elsewhere, as /usr/bin/retrovue_playout does, with a clean env.
    await Deno.symlink(layout.command, `${dir}/linked`);
    const version = await new Deno.Command(`${dir}/linked`, {
      args: ["--version"],
      clearEnv: true,
      env: { PATH: "/usr/bin:/bin" },
    }).output();
    assert.equal(version.code, 0, decoder.decode(version.stderr));
    assert.match(
      decoder.decode(version.stdout),
      new RegExp(`^retrovue_playout ${(await readPackageVersion()).replaceAll(".", "\\.")}\\b`),
    );

    // The stand-in's run mode starts its worker, which loads libavutil through FFI.
    const config = `${dir}/config.toml`;
    await Deno.writeTextFile(config, "[http]\nport = 0\n[metrics]\nport = 0\n");
    const child = new Deno.Command(layout.command, {
      args: ["--config", config],
      clearEnv: true,
      env: { PATH: "/usr/bin:/bin" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let out = "";
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000); // liveness bound
    try {
      while (!out.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
    } finally {
      clearTimeout(killer);
      await reader.cancel();
      child.kill("SIGTERM");
      const stderr = await new Response(child.stderr).text();
      await child.status;
      assert.match(out, /"event":"stand_in_started","ffmpeg":"\d+\.\d+/, `${out}\n${stderr}`);
    }
  });
});

Deno.test("worker scan: the stand-in's worker is found through the module graph", async () => {
  const entries = await findWorkerEntries(STAND_IN);
  assert.deepEqual(entries, [{
    sourceFile: STAND_IN,
    specifier: "./stand_in_worker.ts",
    entryFile: `${REPO_ROOT}/packaging/stand_in_worker.ts`,
  }]);
});

Deno.test("worker scan: a worker URL the bundle cannot carry fails the build", () => {
  const text = 'const w = new Worker(url, { type: "module" });\n';
  assert.throws(
    () => findWorkerSites("/src/a.ts", text),
    (err: unknown) => err instanceof UnsupportedWorkerSiteError && err.line === 1,
  );
  assert.deepEqual(
    findWorkerSites("/src/x/a.ts", 'new Worker(import.meta.resolve("../w.ts"));\n'),
    [{ sourceFile: "/src/x/a.ts", specifier: "../w.ts", entryFile: "/src/w.ts" }],
  );
});

Deno.test("libc dependency: the highest GLIBC_ symbol version wins", () => {
  const bytes = new TextEncoder().encode("\0GLIBC_2.2.5\0GLIBC_2.27\0GLIBC_2.3.4\0GLIBC_PRIVATE\0");
  assert.equal(highestGlibcVersion(bytes), "2.27");
  assert.equal(highestGlibcVersion(new TextEncoder().encode("no versions")), undefined);
});
