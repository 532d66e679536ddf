/**
 * The maintainer scripts' service handling, which the .deb test cannot see without systemd as
 * PID 1: each script runs in a private mount namespace where /run/systemd/system exists (or
 * not), with recording stand-ins for systemctl, deb-systemd-helper, deb-systemd-invoke and the
 * user tools first on PATH. Checks: a first install enables and starts the unit, an upgrade
 * restarts it (and prerm does not stop it first), removal stops it, purge deletes the state and
 * the user, and without a running systemd nothing is started or stopped but the enablement is
 * still recorded. File-changing commands (install, rm, rmdir) are stand-ins too.
 * Needs root (mount namespace).
 */

import assert from "node:assert/strict";
import { REPO_ROOT } from "../packaging/package_metadata.ts";

const SCRIPTS = `${REPO_ROOT}/packaging/debian`;
const SERVICE = "retrovue-playout.service";
const TIMER = "retrovue-playout-backup.timer";
const STUBS = [
  "systemctl",
  "deb-systemd-helper",
  "deb-systemd-invoke",
  "adduser",
  "addgroup",
  "deluser",
  "delgroup",
  "install",
  "rm",
  "rmdir",
];

/** Runs `script args` with stubs; returns the stub calls, one "name args" line each. */
async function runScript(
  dir: string,
  script: string,
  args: string[],
  systemd: boolean,
): Promise<string[]> {
  const log = `${dir}/calls`;
  await Deno.writeTextFile(log, "");
  const bin = `${dir}/bin`;
  await Deno.mkdir(bin, { recursive: true });
  for (const name of STUBS) {
    // getent below says the user exists, so adduser/addgroup must not be called; was-enabled
    // answers "yes" (as on a first install).
    await Deno.writeTextFile(
      `${bin}/${name}`,
      `#!/bin/sh\necho "${name} $*" >> ${log}\nexit 0\n`,
    );
    await Deno.chmod(`${bin}/${name}`, 0o755);
  }
  await Deno.writeTextFile(`${bin}/getent`, `#!/bin/sh\necho "getent $*" >> ${log}\nexit 0\n`);
  await Deno.chmod(`${bin}/getent`, 0o755);
  // A private /run: a fresh tmpfs, with systemd's marker directory when asked for.
  const setup = [
    "set -e",
    "mount -t tmpfs tmpfs /run",
    systemd ? "mkdir -p /run/systemd/system" : "",
    `exec env PATH=${bin}:/usr/sbin:/usr/bin:/sbin:/bin /bin/sh "$@"`,
  ].filter(Boolean).join("\n");
  const out = await new Deno.Command("unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "/bin/sh",
      "-c",
      setup,
      "sh",
      `${SCRIPTS}/${script}`,
      ...args,
    ],
    stdin: "null",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `${script} ${args.join(" ")} failed:\n${stderr}`);
  return (await Deno.readTextFile(log)).split("\n").filter((l) => l && !l.startsWith("getent"));
}

async function withScriptDir(fn: (dir: string) => Promise<void>): Promise<void> {
  if (Deno.uid() !== 0) {
    throw new Error(
      "tests/packaging_scripts_test.ts must run as root (it mounts a private /run in a mount " +
        "namespace): sudo deno test --allow-all tests/packaging_scripts_test.ts",
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "packaging_scripts_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("postinst configure (first install) enables and starts the unit", async () => {
  await withScriptDir(async (dir) => {
    const calls = await runScript(dir, "postinst", ["configure"], true);
    assert.ok(!calls.some((c) => /^add(user|group) /.test(c)), calls.join("\n"));
    assert.ok(
      calls.includes("install -d -m 0750 -o retrovue -g retrovue /var/lib/retrovue-playout"),
    );
    assert.ok(calls.includes(`deb-systemd-helper enable ${SERVICE}`), calls.join("\n"));
    assert.ok(calls.includes(`deb-systemd-helper enable ${TIMER}`), calls.join("\n"));
    assert.ok(calls.includes("systemctl --system daemon-reload"), calls.join("\n"));
    assert.ok(calls.includes(`deb-systemd-invoke start ${TIMER}`), calls.join("\n"));
    assert.equal(calls.at(-1), `deb-systemd-invoke start ${SERVICE}`);
  });
});

Deno.test("postinst configure <old version> (upgrade) restarts; prerm upgrade does not stop", async () => {
  await withScriptDir(async (dir) => {
    const prerm = await runScript(dir, "prerm", ["upgrade", "0.1.1"], true);
    assert.deepEqual(prerm, []);
    const calls = await runScript(dir, "postinst", ["configure", "0.1.0"], true);
    assert.equal(calls.at(-1), `deb-systemd-invoke restart ${SERVICE}`);
    assert.ok(!calls.some((c) => c.includes(" start ")), calls.join("\n"));
  });
});

Deno.test("prerm remove stops the unit; postrm remove masks it, purge forgets it", async () => {
  await withScriptDir(async (dir) => {
    assert.deepEqual(await runScript(dir, "prerm", ["remove"], true), [
      `deb-systemd-invoke stop ${TIMER}`,
      `deb-systemd-invoke stop ${SERVICE}`,
    ]);
    const remove = await runScript(dir, "postrm", ["remove"], true);
    assert.deepEqual(remove, [
      "systemctl --system daemon-reload",
      `deb-systemd-helper mask ${TIMER}`,
      `deb-systemd-helper mask ${SERVICE}`,
    ]);
    const purge = await runScript(dir, "postrm", ["purge"], false);
    for (const unit of [SERVICE, TIMER]) {
      assert.ok(purge.includes(`deb-systemd-helper purge ${unit}`), purge.join("\n"));
      assert.ok(purge.includes(`deb-systemd-helper unmask ${unit}`), purge.join("\n"));
    }
    assert.ok(purge.includes("deluser --system --quiet retrovue"), purge.join("\n"));
    assert.ok(purge.includes("delgroup --system --quiet --only-if-empty retrovue"));
    assert.ok(purge.includes("rm -rf /var/lib/retrovue-playout"), purge.join("\n"));
  });
});

Deno.test("without a running systemd nothing starts or stops, enablement is recorded", async () => {
  await withScriptDir(async (dir) => {
    const install = await runScript(dir, "postinst", ["configure"], false);
    assert.ok(install.includes(`deb-systemd-helper enable ${SERVICE}`), install.join("\n"));
    assert.ok(
      !install.some((c) => c.startsWith("deb-systemd-invoke") || c.startsWith("systemctl")),
    );
    const upgrade = await runScript(dir, "postinst", ["configure", "0.1.0"], false);
    assert.ok(!upgrade.some((c) => c.startsWith("deb-systemd-invoke")), upgrade.join("\n"));
    assert.deepEqual(await runScript(dir, "prerm", ["remove"], false), []);
  });
});
