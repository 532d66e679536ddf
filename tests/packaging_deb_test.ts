/**
 * The .deb end to end, as CI runs it (as root, systemd not PID 1): `deno task package` builds
 * it; lintian finds no errors; apt-get installs it; the installed command prints deno.json's
 * version; the unit passes `systemd-analyze verify`; the unit's ExecStartPre (`--check-config`)
 * and ExecStart run as `retrovue` under the unit's sandbox (emulated by
 * packaging/unit_sandbox.ts: read-only system, private /tmp, hidden /home, no capabilities,
 * the unit's seccomp filter) with the shipped config, and serve valid MPEG-TS on
 * /channel/1.ts and metrics on /metrics; `apt-get remove` keeps config, state and user, and
 * `apt-get purge` leaves nothing behind.
 *
 * It installs and purges the package on this machine: it refuses to run where
 * retrovue-playout is already installed, and serializes with other runs of itself.
 */

import assert from "node:assert/strict";
import { parse as parseToml } from "smol-toml";
import {
  CONFIG_PATH,
  debFileName,
  debianArchitecture,
  FFMPEG_DEPENDS,
  INSTALL_PREFIX,
  INSTALLED_COMMAND,
  PACKAGE_NAME,
  readPackageVersion,
  REPO_ROOT,
  RUNTIME_DIR,
  SERVICE_USER,
  STATE_DIR,
} from "../packaging/package_metadata.ts";
import {
  parseServiceUnit,
  prepareServiceDirectories,
  releaseServiceDirectories,
  resolveSyscallAllowList,
  sandboxedCommand,
  type ServiceUnit,
} from "../packaging/unit_sandbox.ts";

const UNIT_PATH = "/lib/systemd/system/retrovue-playout.service";
const BACKUP_UNIT_PATHS = [
  "/lib/systemd/system/retrovue-playout-backup.service",
  "/lib/systemd/system/retrovue-playout-backup.timer",
];
const APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"];
const decoder = new TextDecoder();

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws on a non-zero exit. */
async function run(cmd: string[], cwd?: string): Promise<Ran> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd,
    stdin: "null",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Runs a command that must succeed. */
async function ok(cmd: string[], cwd?: string): Promise<Ran> {
  const r = await run(cmd, cwd);
  assert.equal(r.code, 0, `${cmd.join(" ")} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** dpkg's status of the package ("" when dpkg has never heard of it). */
async function dpkgStatus(): Promise<string> {
  const r = await run(["dpkg-query", "-W", "-f=${Status}", PACKAGE_NAME]);
  return r.code === 0 ? r.stdout.trim() : "";
}

async function hasUser(name: string): Promise<boolean> {
  return (await run(["getent", "passwd", name])).code === 0;
}

async function hasGroup(name: string): Promise<boolean> {
  return (await run(["getent", "group", name])).code === 0;
}

/**
 * Files and records the package may create (none may survive a purge). The state and runtime
 * directories are checked separately: engines started as root with the default config (other
 * tests) may create them at any time.
 */
const PACKAGE_PATHS = [
  INSTALL_PREFIX,
  "/usr/bin/retrovue-playout",
  "/usr/bin/retrovue_playout",
  "/etc/retrovue-playout",
  UNIT_PATH,
  "/usr/share/doc/retrovue-playout",
  "/usr/share/man/man1/retrovue-playout.1.gz",
  "/usr/share/man/man1/retrovue_playout.1.gz",
  "/usr/share/lintian/overrides/retrovue-playout",
  "/etc/systemd/system/retrovue-playout.service",
  "/etc/systemd/system/multi-user.target.wants/retrovue-playout.service",
  "/var/lib/systemd/deb-systemd-helper-enabled/retrovue-playout.service.dsh-also",
  "/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/retrovue-playout.service",
  "/var/lib/systemd/deb-systemd-helper-masked/retrovue-playout.service",
  ...BACKUP_UNIT_PATHS,
  "/etc/systemd/system/timers.target.wants/retrovue-playout-backup.timer",
  "/var/lib/systemd/deb-systemd-helper-enabled/retrovue-playout-backup.timer.dsh-also",
  "/var/lib/systemd/deb-systemd-helper-enabled/timers.target.wants/retrovue-playout-backup.timer",
  "/var/lib/systemd/deb-systemd-helper-masked/retrovue-playout-backup.timer",
];

/** A child's stdout+stderr, collected as it runs (for failure messages). */
class OutputLog {
  text = "";
  readonly done: Promise<void>;
  constructor(streams: ReadableStream<Uint8Array>[]) {
    this.done = Promise.all(streams.map(async (s) => {
      for await (const chunk of s) this.text += decoder.decode(chunk, { stream: true });
    })).then(() => {});
  }
  tail(lines = 40): string {
    return this.text.split("\n").slice(-lines).join("\n");
  }
}

/** Run inside the service's network namespace: GET $URL until 200, print up to $MAX bytes. */
const NETNS_FETCH = `
const url = Deno.env.get("URL"), max = Number(Deno.env.get("MAX"));
const deadline = Number(Deno.env.get("DEADLINE"));
let last = "";
while (Date.now() < deadline) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
    if (res.status === 200) {
      let total = 0;
      const out = Deno.stdout.writable.getWriter();
      for await (const chunk of res.body) {
        const part = chunk.subarray(0, max - total);
        await out.write(part);
        total += part.length;
        if (total >= max) break;
      }
      await out.close();
      Deno.exit(0);
    }
    last = "HTTP " + res.status + ": " + (await res.text()).slice(0, 200);
  } catch (err) {
    last = String(err);
  }
  await new Promise((r) => setTimeout(r, 500));
}
console.error("no " + url + " before the deadline: " + last);
Deno.exit(1);
`;

/**
 * GETs `url` inside the network namespace of process `pid` (retrying while the server comes
 * up, until `deadline`); at most `max` bytes of the body. Stops early when `signal` aborts.
 */
async function fetchInNetns(
  pid: number,
  url: string,
  max: number,
  deadline: number,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const out = await new Deno.Command("nsenter", {
    args: [`--net=/proc/${pid}/ns/net`, "--", Deno.execPath(), "eval", "--no-config", NETNS_FETCH],
    env: { URL: url, MAX: String(max), DEADLINE: String(deadline), NO_COLOR: "1" },
    cwd: "/",
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  if (!out.success) {
    throw new Error(signal.aborted ? `${url}: the engine exited` : decoder.decode(out.stderr));
  }
  return out.stdout;
}

Deno.test("packaging: the .deb builds, lints, installs, runs sandboxed and purges cleanly", async (t) => {
  if (Deno.uid() !== 0) {
    throw new Error(
      "tests/packaging_deb_test.ts must run as root: it installs, removes and purges the " +
        "retrovue-playout .deb with apt-get and starts the service as the retrovue user " +
        "(e.g. sudo deno test --allow-all tests/packaging_deb_test.ts)",
    );
  }
  // One run at a time on this machine (parallel CI jobs, engineers sharing a host).
  await Deno.mkdir("/run/lock", { recursive: true });
  using lock = await Deno.open("/run/lock/retrovue-playout-packaging-test.lock", {
    create: true,
    write: true,
  });
  await lock.lock(true);
  const before = await dpkgStatus();
  assert.ok(
    before === "" || before.endsWith("not-installed"),
    `${PACKAGE_NAME} is already on this machine (dpkg: "${before}"); this test installs and ` +
      `purges it, so remove it first: apt-get purge ${PACKAGE_NAME}`,
  );
  assert.ok(
    !(await hasUser(SERVICE_USER)),
    `a user ${SERVICE_USER} already exists; the test checks that the package creates and ` +
      `purges it: remove it first (deluser --system ${SERVICE_USER})`,
  );

  const version = await readPackageVersion();
  const tmp = await Deno.makeTempDir({ prefix: "packaging_deb_test_" });
  let lintian: Promise<Ran> | undefined;
  try {
    // Build, exactly as `deno task package` does.
    const build = await run(
      [Deno.execPath(), "run", "--allow-all", "packaging/package.ts", "--out-dir", tmp],
      REPO_ROOT,
    );
    assert.equal(build.code, 0, `deno task package failed:\n${build.stdout}\n${build.stderr}`);
    const layout = /layout (compiled|runtime\+bundle)/.exec(build.stdout)?.[1];
    assert.ok(layout, `the build does not say which layout it made:\n${build.stdout}`);
    console.log(`  built layout: ${layout}`);
    const deb = `${tmp}/${debFileName(version, debianArchitecture())}`;
    assert.ok(await exists(deb), `no ${deb} after the build:\n${build.stdout}`);

    // lintian takes seconds on ~100 MB; it runs while the package is exercised.
    lintian = run(["lintian", "--fail-on", "error", deb]);

    await t.step("control data: version, FFmpeg alternatives, conffile", async () => {
      const field = async (name: string) => (await ok(["dpkg-deb", "-f", deb, name])).stdout.trim();
      assert.equal(await field("Package"), PACKAGE_NAME);
      assert.equal(await field("Version"), version);
      assert.equal(await field("Architecture"), debianArchitecture());
      const depends = (await field("Depends")).split(/,\s*/);
      for (const alternatives of FFMPEG_DEPENDS) assert.ok(depends.includes(alternatives));
      const control = await Deno.makeTempDir({ dir: tmp });
      await ok(["dpkg-deb", "--control", deb, control]);
      assert.equal((await Deno.readTextFile(`${control}/conffiles`)).trim(), CONFIG_PATH);
    });

    await ok([...APT, "install", deb]);

    await t.step("installed: commands print deno.json's version; the conffile", async () => {
      assert.equal(await dpkgStatus(), "install ok installed");
      for (
        const cmd of [INSTALLED_COMMAND, "/usr/bin/retrovue-playout", "/usr/bin/retrovue_playout"]
      ) {
        const r = await ok([cmd, "--version"]);
        assert.match(
          r.stdout,
          new RegExp(`^retrovue_playout ${version.replaceAll(".", "\\.")}\\b`, "m"),
        );
      }
      assert.equal(
        await Deno.readTextFile(CONFIG_PATH),
        await Deno.readTextFile(`${REPO_ROOT}/packaging/config.toml`),
        "the conffile is not packaging/config.toml",
      );
      const info = JSON.parse(await Deno.readTextFile(`${INSTALL_PREFIX}/build-info.json`));
      assert.equal(info.layout, layout);
      assert.equal(info.version, version);
    });

    await t.step("installed: system user, state directory, unit enabled", async () => {
      const passwd = (await ok(["getent", "passwd", SERVICE_USER])).stdout.trim().split(":");
      assert.ok(Number(passwd[2]) < 1000, `${SERVICE_USER} is not a system user: ${passwd}`);
      assert.equal(passwd[6], "/usr/sbin/nologin");
      assert.ok(await hasGroup(SERVICE_USER));
      const st = await Deno.stat(STATE_DIR);
      assert.equal(st.uid, Number(passwd[2]));
      assert.equal(st.mode! & 0o777, 0o750);
      assert.equal(
        await Deno.readLink("/etc/systemd/system/multi-user.target.wants/retrovue-playout.service"),
        UNIT_PATH,
      );
    });

    await t.step("systemd-analyze verify accepts the units (service, backup timer)", async () => {
      const r = await run(["systemd-analyze", "verify", UNIT_PATH, ...BACKUP_UNIT_PATHS]);
      assert.equal(r.code, 0, `systemd-analyze verify:\n${r.stdout}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /retrovue-playout(-backup)?\.(service|timer):/, r.stderr);
    });

    const unit: ServiceUnit = parseServiceUnit(await Deno.readTextFile(UNIT_PATH));
    const home = (await ok(["getent", "passwd", SERVICE_USER])).stdout.trim().split(":")[5];
    const syscalls = await resolveSyscallAllowList(unit.systemCallFilter);

    await t.step("ExecStartPre (--check-config) passes under the unit's sandbox", async () => {
      assert.equal(unit.execStartPre.length, 1);
      assert.deepEqual(unit.execStartPre[0], [INSTALLED_COMMAND, "--check-config", CONFIG_PATH]);
      const dirs = await prepareServiceDirectories(unit);
      try {
        const r = await run(sandboxedCommand(unit, unit.execStartPre[0], { dirs, syscalls, home }));
        assert.equal(r.code, 0, `--check-config failed:\n${r.stdout}\n${r.stderr}`);
      } finally {
        await releaseServiceDirectories(dirs);
      }
    });

    await t.step(
      "the backup service writes a dated backup as retrovue under its sandbox",
      async () => {
        const backup = parseServiceUnit(await Deno.readTextFile(BACKUP_UNIT_PATHS[0]));
        assert.equal(backup.execStart[0], INSTALLED_COMMAND);
        const outDir = backup.execStart[backup.execStart.indexOf("--out-dir") + 1];
        const dirs = await prepareServiceDirectories(backup);
        try {
          const r = await run(
            sandboxedCommand(backup, backup.execStart, {
              dirs,
              syscalls: await resolveSyscallAllowList(backup.systemCallFilter),
              home,
              privateNetwork: true,
            }),
          );
          assert.equal(r.code, 0, `backup failed:\n${r.stdout}\n${r.stderr}`);
          const written = /^wrote (\S+)$/m.exec(r.stdout)?.[1];
          assert.ok(written?.startsWith(`${outDir}/retrovue-playout-state-`), r.stdout);
          const doc = JSON.parse(await Deno.readTextFile(written!));
          assert.equal(doc.kind, "retrovue-playout-state");
          assert.equal(doc.configToml, await Deno.readTextFile(CONFIG_PATH));
          const owner = (await ok(["stat", "-c", "%U", written!])).stdout.trim();
          assert.equal(owner, SERVICE_USER);
        } finally {
          await releaseServiceDirectories(dirs);
        }
      },
    );

    await t.step("ExecStart serves TS and /metrics as retrovue under the sandbox", async () => {
      assert.deepEqual(unit.execStart, [INSTALLED_COMMAND, "--config", CONFIG_PATH]);
      const config = parseToml(await Deno.readTextFile(CONFIG_PATH)) as {
        http?: { port?: number };
        metrics?: { port?: number };
        channels?: { id: number; format?: { width?: number; height?: number } }[];
      };
      const httpPort = config.http?.port ?? 8080;
      const metricsPort = config.metrics?.port ?? 9308;
      const channel = config.channels?.[0];
      assert.ok(channel, "the shipped config has no channel");
      const dirs = await prepareServiceDirectories(unit);
      // Its own network namespace: the shipped config's fixed ports cannot collide with
      // other engines on this machine; the test reaches it through nsenter.
      const cmd = sandboxedCommand(unit, unit.execStart, {
        dirs,
        syscalls,
        home,
        privateNetwork: true,
      });
      const child = new Deno.Command(cmd[0], {
        args: cmd.slice(1),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const log = new OutputLog([child.stdout, child.stderr]);
      const exited = new AbortController();
      let status: Deno.CommandStatus | undefined;
      const statusPromise = child.status.then((s) => {
        status = s;
        exited.abort();
        return s;
      });
      try {
        const deadline = Date.now() + 60_000; // liveness bound: start-up on a loaded machine
        // Until unshare has run, the child is still in this namespace (where another engine
        // may hold the port).
        const hostNet = await Deno.readLink("/proc/self/ns/net");
        while (await Deno.readLink(`/proc/${child.pid}/ns/net`) === hostNet) {
          assert.ok(status === undefined && Date.now() < deadline, "no private network");
          await new Promise((r) => setTimeout(r, 20));
        }
        const get = (url: string, max: number) =>
          fetchInNetns(child.pid, url, max, deadline, exited.signal).catch((err) => {
            throw new Error(`${err.message}\nengine output:\n${log.tail()}`);
          });
        const ts = await get(`http://127.0.0.1:${httpPort}/channel/${channel.id}.ts`, 256 * 1024);
        assert.ok(ts.length >= 188 * 100, `only ${ts.length} bytes of TS`);
        for (let i = 0; i + 188 <= ts.length; i += 188) {
          assert.equal(ts[i], 0x47, `no TS sync byte at offset ${i}`);
        }
        const file = `${tmp}/channel.ts`;
        await Deno.writeFile(file, ts.subarray(0, ts.length - (ts.length % 188)));
        const probe = await ok([
          "ffprobe",
          "-v",
          "error",
          "-show_entries",
          "stream=codec_type,codec_name,width,height",
          "-of",
          "json",
          file,
        ]);
        const streams = JSON.parse(probe.stdout).streams as {
          codec_type: string;
          codec_name: string;
          width?: number;
          height?: number;
        }[];
        const video = streams.find((s) => s.codec_type === "video");
        assert.ok(video, `no video stream: ${probe.stdout}`);
        assert.equal(video.width, channel.format?.width ?? video.width);
        assert.equal(video.height, channel.format?.height ?? video.height);
        assert.ok(streams.some((s) => s.codec_type === "audio"), `no audio: ${probe.stdout}`);

        const metrics = decoder.decode(
          await get(`http://127.0.0.1:${metricsPort}/metrics`, 4 * 1024 * 1024),
        );
        assert.match(metrics, /^# TYPE retrovue_playout_\w+ \w+$/m);
        assert.match(metrics, /^retrovue_playout_\w+(\{[^}]*\})? [-+0-9.eE]+$/m);

        // The main thread's real-time class: allowed by the unit (LimitRTPRIO=1, the system
        // call in its filter); the emulation can give the limit only with CAP_SYS_RESOURCE.
        assert.ok(syscalls.includes("sched_setscheduler"), "the unit's filter refuses it");
        const priority = log.text.split("\n").filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l.event === "control_thread_priority");
        if (log.text.includes("LimitRTPRIO=1 not allowed here")) {
          assert.equal(priority?.policy, "normal", JSON.stringify(priority));
          assert.match(String(priority?.reason), /RLIMIT_RTPRIO is 0/);
          console.log(
            "  LimitRTPRIO=1 could not be emulated here (no CAP_SYS_RESOURCE): " +
              "the engine ran at the normal priority and said why",
          );
        } else {
          assert.equal(priority?.policy, "SCHED_RR", `${JSON.stringify(priority)}\n${log.tail()}`);
        }
      } finally {
        // systemd stops a service with SIGTERM; the engine exits 0 on it.
        if (status === undefined) child.kill("SIGTERM");
        const killer = setTimeout(() => status ?? child.kill("SIGKILL"), 30_000);
        await statusPromise;
        clearTimeout(killer);
        await log.done;
        for (const kept of await releaseServiceDirectories(dirs)) {
          console.log(`  ${kept}: another process put files there meanwhile; left in place`);
        }
      }
      assert.equal(status?.code, 0, `exit on SIGTERM: ${status?.code}\n${log.tail()}`);
    });

    await ok([...APT, "remove", PACKAGE_NAME]);

    await t.step("remove: program gone; config, state and user kept", async () => {
      assert.equal(await dpkgStatus(), "deinstall ok config-files");
      for (const path of [INSTALL_PREFIX, "/usr/bin/retrovue-playout", UNIT_PATH]) {
        assert.ok(!(await exists(path)), `${path} is still there after remove`);
      }
      assert.ok(await exists(CONFIG_PATH), "remove deleted the conffile");
      assert.ok(await exists(STATE_DIR), "remove deleted the state directory");
      assert.ok(await hasUser(SERVICE_USER), "remove deleted the user");
    });

    const ids = {
      uid: Number((await ok(["id", "-u", SERVICE_USER])).stdout.trim()),
      gid: Number((await ok(["id", "-g", SERVICE_USER])).stdout.trim()),
    };
    await ok([...APT, "purge", PACKAGE_NAME]);

    await t.step("purge: no files, no user, no group, no systemd records", async () => {
      assert.ok((await dpkgStatus()) === "" || (await dpkgStatus()).endsWith("not-installed"));
      const left = [];
      for (const path of PACKAGE_PATHS) if (await exists(path)) left.push(path);
      assert.deepEqual(left, [], `left behind after purge: ${left.join(", ")}`);
      for (const dir of [STATE_DIR, RUNTIME_DIR]) {
        if (!(await exists(dir))) continue;
        // Only acceptable as a directory of someone else's (a root engine's default paths).
        const st = await Deno.stat(dir);
        assert.ok(
          st.uid !== ids.uid && st.gid !== ids.gid,
          `${dir} survived the purge (owner ${st.uid}:${st.gid})`,
        );
      }
      assert.ok(!(await hasUser(SERVICE_USER)), "the retrovue user survived the purge");
      assert.ok(!(await hasGroup(SERVICE_USER)), "the retrovue group survived the purge");
      // Nothing owned by the former user or group anywhere the package or service could write.
      const owned = await run([
        "find",
        "/etc",
        "/opt",
        "/run",
        "/srv",
        "/usr",
        "/var",
        "-xdev",
        "(",
        "-uid",
        String(ids.uid),
        "-o",
        "-gid",
        String(ids.gid),
        ")",
        "-print",
      ]);
      assert.equal(owned.stdout, "", `files of the purged retrovue user:\n${owned.stdout}`);
    });

    await t.step("lintian reports no errors", async () => {
      const r = await lintian!;
      const tags = r.stdout.split("\n").filter((l) => /^[EWIX]: /.test(l));
      const errors = tags.filter((l) => l.startsWith("E: "));
      assert.deepEqual(errors, [], `lintian errors:\n${r.stdout}\n${r.stderr}`);
      assert.equal(r.code, 0, `lintian failed:\n${r.stdout}\n${r.stderr}`);
      for (const w of tags.filter((l) => l.startsWith("W: "))) console.log(`  lintian ${w}`);
    });
  } finally {
    // Leave the machine as it was, even after a failure part-way.
    const status = await dpkgStatus();
    if (status !== "" && !status.endsWith("not-installed")) {
      const r = await run([...APT, "purge", PACKAGE_NAME]);
      if (r.code !== 0) console.error(`cleanup: apt-get purge failed:\n${r.stdout}\n${r.stderr}`);
    }
    // Its outcome is the lintian step's; after an earlier failure, only wait for it to end.
    await lintian?.then(() => {}, (err) => console.error(`lintian did not run: ${err}`));
    await Deno.remove(tmp, { recursive: true });
  }
});
