/**
 * The nightly backup the .deb ships: `retrovue-playout-backup.timer` starts
 * `retrovue-playout-backup.service` once a day, which runs `state export --out-dir DIR
 * --keep N`: a dated file per day, the oldest beyond N removed, each one a backup that
 * `state import` restores. Checked with `systemd-analyze verify` (in a scratch root holding
 * the system's units, a stand-in for the installed command and the man page),
 * `systemd-analyze calendar`, and by running the unit's own command line (with the paths
 * moved into a temp dir) against pre-existing backups.
 */

import { assert, assertEquals } from "./assert.ts";
import { CONFIG_PATH, INSTALLED_COMMAND, REPO_ROOT } from "../packaging/package_metadata.ts";

const PACKAGING = `${REPO_ROOT}/packaging`;
const SERVICE = "retrovue-playout-backup.service";
const TIMER = "retrovue-playout-backup.timer";
const MAIN = `${REPO_ROOT}/src/main.ts`;

async function run(cmd: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** `Key=value` lines of one section of a unit file. */
function section(text: string, name: string): Map<string, string> {
  const out = new Map<string, string>();
  let inside = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("[")) inside = line === `[${name}]`;
    else if (inside && line && !line.startsWith("#")) {
      const eq = line.indexOf("=");
      out.set(line.slice(0, eq), line.slice(eq + 1));
    }
  }
  return out;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "backup_timer_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("backup units pass systemd-analyze verify; the timer fires once a day and catches up", async () => {
  await withDir(async (root) => {
    await Deno.mkdir(`${root}/lib/systemd`, { recursive: true });
    const cp = await run(["cp", "-a", "/lib/systemd/system", `${root}/lib/systemd/`]);
    assertEquals(cp.code, 0, cp.stderr);
    await Deno.mkdir(`${root}/etc/systemd/system`, { recursive: true });
    for (const unit of [SERVICE, TIMER]) {
      await Deno.copyFile(`${PACKAGING}/${unit}`, `${root}/etc/systemd/system/${unit}`);
    }
    // The installed command (verify checks ExecStart is executable) and the man page.
    const bin = `${root}${INSTALLED_COMMAND}`;
    await Deno.mkdir(bin.slice(0, bin.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(bin, "#!/bin/sh\n");
    await Deno.chmod(bin, 0o755);
    await Deno.mkdir(`${root}/man/man1`, { recursive: true });
    await Deno.copyFile(`${PACKAGING}/retrovue-playout.1`, `${root}/man/man1/retrovue-playout.1`);
    const r = await run(
      ["systemd-analyze", "verify", `--root=${root}`, TIMER, SERVICE],
      { MANPATH: `${root}/man`, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    );
    assertEquals(r.code, 0, `systemd-analyze verify:\n${r.stdout}\n${r.stderr}`);
    assertEquals(r.stderr, "", r.stderr);
  });

  const timer = section(await Deno.readTextFile(`${PACKAGING}/${TIMER}`), "Timer");
  assertEquals(timer.get("Unit"), SERVICE);
  assertEquals(timer.get("Persistent"), "true");
  const install = section(await Deno.readTextFile(`${PACKAGING}/${TIMER}`), "Install");
  assertEquals(install.get("WantedBy"), "timers.target");
  const cal = await run([
    "systemd-analyze",
    "calendar",
    "--iterations=3",
    "--base-time=2026-12-01 12:00:00 UTC",
    timer.get("OnCalendar")!,
  ]);
  assertEquals(cal.code, 0, cal.stderr);
  const elapses = [...cal.stdout.matchAll(/(?:Next elapse|Iter\. #\d): \w+ (\S+ \S+)/g)]
    .map((m) => Date.parse(m[1].replace(" ", "T") + "Z"));
  assertEquals(elapses.length, 3, cal.stdout);
  assertEquals(elapses[1] - elapses[0], 86_400_000, cal.stdout);
  assertEquals(elapses[2] - elapses[1], 86_400_000, cal.stdout);
});

Deno.test("the backup service's command writes today's dated backup, keeps the newest N, restorable", async () => {
  const unit = section(await Deno.readTextFile(`${PACKAGING}/${SERVICE}`), "Service");
  assertEquals(unit.get("Type"), "oneshot");
  assertEquals(unit.get("User"), "retrovue");
  const argv = unit.get("ExecStart")!.split(/\s+/);
  // [command, state, export, --config, CONFIG, --out-dir, DIR, --keep, N]
  assertEquals(argv.slice(0, 5), [INSTALLED_COMMAND, "state", "export", "--config", CONFIG_PATH]);
  assertEquals(argv[5], "--out-dir");
  const stateDir = unit.get("StateDirectory")!;
  assert(
    argv[6].startsWith(`/var/lib/${stateDir}/`),
    `${argv[6]} is outside the unit's StateDirectory (the only writable place)`,
  );
  assertEquals(argv[7], "--keep");
  const keep = Number(argv[8]);
  assert(Number.isInteger(keep) && keep >= 7, `keeps ${argv[8]} backups`);

  await withDir(async (dir) => {
    const config = `${dir}/config.toml`;
    await Deno.writeTextFile(
      config,
      `state_dir = "${dir}/state"\n[[channels]]\nid = 3\nname = "backed up"\n`,
    );
    const out = `${dir}/backups`;
    await Deno.mkdir(out);
    // Older backups than the rotation keeps, one not-a-backup file, and one from the future.
    const old = Array.from({ length: keep + 3 }, (_, i) => {
      const d = new Date(Date.UTC(2025, 0, 1 + i));
      return `retrovue-playout-state-${d.toISOString().slice(0, 10)}.json`;
    });
    for (const name of old) await Deno.writeTextFile(`${out}/${name}`, "{}");
    await Deno.writeTextFile(`${out}/notes.txt`, "operator's file");

    const before = new Date().toISOString().slice(0, 10);
    const args = [...argv.slice(1)];
    args[3] = config;
    args[5] = out;
    const r = await run([Deno.execPath(), "run", "--allow-all", MAIN, ...args]);
    const after = new Date().toISOString().slice(0, 10);
    assertEquals(r.code, 0, r.stderr);

    const names: string[] = [];
    for await (const e of Deno.readDir(out)) names.push(e.name);
    names.sort();
    const today = [before, after].map((d) => `retrovue-playout-state-${d}.json`)
      .find((n) => names.includes(n));
    assert(today !== undefined, `no dated backup for today in ${names.join(", ")}`);
    const dated = names.filter((n) => /^retrovue-playout-state-.*\.json$/.test(n));
    assertEquals(dated.length, keep, names.join(", "));
    // The newest keep-1 of the old ones stay, with today's.
    assertEquals(dated, [...old.slice(-(keep - 1)), today].sort());
    assert(names.includes("notes.txt"), "an unrelated file was removed");

    // What was written restores.
    const restored = `${dir}/restored.toml`;
    const imp = await run([
      Deno.execPath(),
      "run",
      "--allow-all",
      MAIN,
      "state",
      "import",
      `${out}/${today}`,
      "--config",
      restored,
      "--state-dir",
      `${dir}/restored-state`,
    ]);
    assertEquals(imp.code, 0, imp.stderr);
    assertEquals(await Deno.readTextFile(restored), await Deno.readTextFile(config));
  });
});
