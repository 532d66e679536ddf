/**
 * The FFmpeg matrix (`deno task test:ffmpeg`): the engine on FFmpeg 7.1 (Debian 13), 8.1 and
 * 9.0 (Debian unstable's libav*62 and libav*63 runtime packages), each in its own root made
 * with `debootstrap --variant=minbase` plus exactly that generation's five libraries, gcc, and
 * where the suite has them that release's headers and ffmpeg/ffprobe CLIs (cached outside the
 * clone). Into a fresh copy go this host's Deno binary and the committed checkout
 * (`git archive HEAD`) with its npm modules and test fixtures; for 8.1, whose CLI no suite has,
 * the host's ffmpeg/ffprobe as a self-contained bundle. Then, with loopback as the only network:
 *
 * 1. the ffi tests (`deno test tests/ffi_*_test.ts`) inside the root (every layout table is
 *    also checked against its release's headers on the host by `deno task test`);
 * 2. one block session driven by Core's flow (tests/grpc_client/e2e_block_session.py run on
 *    the host, in the engine's network namespace, spawning the engine in the root); its TS is
 *    judged on the host: frames decoded, no decode errors, 0 CC errors;
 * 3. the embedded demo channel (`deno task start`), judged the same way.
 *
 * A generation the engine has no verified layout table for (not in SUPPORTED_AVCODEC_MAJORS)
 * is run too: there the engine must refuse to start, naming the unsupported version.
 */

import { assert } from "../tests/assert.ts";
import { generateStubs } from "../tests/grpc_client/python_runner.ts";
import { SUPPORTED_AVCODEC_MAJORS } from "../ffi/layout.ts";
import { playDemo } from "./demo_channel.ts";
import { installHostFfmpeg } from "./host_tools.ts";
import { type CachedRoot, host, preparedRoot, Root, WORK_DIR } from "./root.ts";
import { describe, judgeTs, problems } from "./ts_judge.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CHECKOUT = "/opt/retrovue-playout";
/** FFmpeg's -dev packages (headers). */
const DEV = [
  "libavformat-dev",
  "libavcodec-dev",
  "libavutil-dev",
  "libswscale-dev",
  "libswresample-dev",
  "libavfilter-dev",
];

interface Variant {
  /** FFmpeg release, e.g. "7.1". */
  ffmpeg: string;
  suite: string;
  avcodecMajor: number;
  /** The six runtime libraries of that one generation. */
  libs: string[];
  /** More packages (this release's headers, its CLIs). */
  extra: string[];
  /**
   * Whose ffmpeg/ffprobe the tests in the root use: "root", the suite's own CLI of the same
   * release (tests that compare the engine's decode with ffprobe need the same libavcodec);
   * "host", the host's bundled CLI, where the suite has no CLI of that release (8.1).
   */
  cli: "root" | "host";
}

const VARIANTS: Variant[] = [
  {
    ffmpeg: "7.1",
    suite: "trixie",
    avcodecMajor: 61,
    libs: [
      "libavformat61",
      "libavcodec61",
      "libavutil59",
      "libswscale8",
      "libswresample5",
      "libavfilter10",
    ],
    extra: [...DEV, "ffmpeg"],
    cli: "root",
  },
  {
    ffmpeg: "8.1",
    suite: "sid",
    avcodecMajor: 62,
    libs: [
      "libavformat62",
      "libavcodec62",
      "libavutil60",
      "libswscale9",
      "libswresample6",
      "libavfilter11",
    ],
    extra: [], // sid's -dev packages and ffmpeg CLI are 9.0's
    cli: "host",
  },
  {
    ffmpeg: "9.0",
    suite: "sid",
    avcodecMajor: 63,
    libs: [
      "libavformat63",
      "libavcodec63",
      "libavutil61",
      "libswscale10",
      "libswresample7",
      "libavfilter12",
    ],
    extra: [...DEV, "ffmpeg"],
    cli: "root",
  },
];

const preparing = new Map<Variant, Promise<{ packages: string[]; cached: CachedRoot }>>();

/**
 * The variant's cached root, built when missing; started at most once, so a test can have the
 * next variant's root built (downloads, dpkg) while its own tests run.
 */
function prepare(v: Variant): Promise<{ packages: string[]; cached: CachedRoot }> {
  let p = preparing.get(v);
  if (!p) {
    // gcc: tests/ffi_layout_test.ts compiles its probe (against whatever headers it has).
    const packages = [...v.libs, "gcc", "libc6-dev", ...v.extra];
    p = preparedRoot(`ffmpeg-${v.ffmpeg}`, v.suite, packages).then((cached) => ({
      packages,
      cached,
    }));
    p.catch(() => {}); // reported by the test that awaits it
    preparing.set(v, p);
  }
  return p;
}

/** A fresh copy of the variant's root with Deno, the checkout and the host's CLIs in it. */
async function matrixRoot(v: Variant, tag: string): Promise<Root> {
  const { packages, cached } = await prepare(v);
  console.log(
    `${tag} root ${v.suite} + ${packages.join(" ")}: ${
      cached.built ? `built in ${cached.seconds.toFixed(0)} s` : "cached"
    }`,
  );
  const root = await Root.fromTar(cached.tar, `ffmpeg-${v.ffmpeg}`);
  try {
    await root.copyCheckout(REPO, CHECKOUT);
    await host(["cp", "-a", `${REPO}/node_modules`, root.hostPath(CHECKOUT)]);
    const fixtures = `${REPO}/tests/.fixtures`;
    if (await exists(fixtures)) {
      await host(["cp", "-a", fixtures, root.hostPath(`${CHECKOUT}/tests/`)]);
    }
    await Deno.mkdir(root.hostPath("/usr/local/bin"), { recursive: true });
    await host(["cp", Deno.execPath(), root.hostPath("/usr/local/bin/deno")]);
    if (v.cli === "host") await installHostFfmpeg(root);
    const cli = await root.exec(["sh", "-c", "ffprobe -version | head -n 1"]);
    console.log(`${tag} ffmpeg/ffprobe the tests use: ${v.cli}'s, ${cli.trim()}`);
    await root.linkSelf();
    const libs = await root.exec(["sh", "-c", "ldconfig -p | grep -E 'lib(av|sw)[a-z]*\\.so\\.'"]);
    console.log(
      `${tag} FFmpeg libraries in the root: ${
        libs.split("\n").filter((l) => l.includes("x86-64")).map((l) => l.trim().split(" ")[0])
          .join(" ")
      }`,
    );
  } catch (err) {
    await root.dispose();
    throw err;
  }
  return root;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** `deno test tests/ffi_*_test.ts` inside the root, offline; returns deno's summary line. */
async function ffiTests(root: Root, tag: string, workdir: string): Promise<void> {
  const files = [...Deno.readDirSync(`${REPO}/tests`)].map((e) => e.name)
    .filter((n) => /^ffi_.*_test\.ts$/.test(n)).sort().map((n) => `tests/${n}`);
  const log = `${workdir}/ffi-tests.log`;
  const proc = root.spawn(
    ["deno", "test", "--allow-all", "--no-prompt", ...files],
    log,
    { cwd: CHECKOUT, network: "own", env: { NO_COLOR: "1" } },
  );
  const status = await proc.done;
  const text = await Deno.readTextFile(log);
  const summary = text.match(/(ok|FAILED) \| \d+ passed.*\| \d+ failed.*/g)?.pop() ?? "no summary";
  console.log(`${tag} ffi tests in the root (${files.length} files): ${summary}`);
  for (const l of text.split("\n").filter((l) => /\.\.\. ignored/.test(l))) {
    console.log(`${tag}   ignored in the root: ${l.replace(/ \.\.\. ignored.*/, "").trim()}`);
  }
  const failures = text.split("\n").filter((l) => /\.\.\. FAILED/.test(l));
  assert(
    status.success,
    `${tag} ffi tests failed in the root:\n${failures.join("\n")}\n${text.slice(-6000)}`,
  );
}

interface ScenarioReport {
  ok: boolean;
  checks: { check: string; ok: boolean; detail: unknown }[];
  values: Record<string, unknown>;
}

/** Core's block-session flow against the engine in the root, judged on the host. */
async function blockSession(root: Root, tag: string): Promise<void> {
  const stubs = await generateStubs();
  const inner = `/tmp/e2e-block-session`;
  const workdir = root.hostPath(inner);
  await Deno.mkdir(workdir, { recursive: true });
  try {
    // The "deno" the scenario spawns: the root's deno, run in the root, same pid (SIGTERM and
    // the exit code are the engine's), in the scenario's own network namespace.
    const wrapper = `${workdir}/deno-in-root`;
    await Deno.writeTextFile(wrapper, root.wrapperScript("deno"));
    await Deno.chmod(wrapper, 0o755);
    const script = root.hostPath(`${CHECKOUT}/tests/grpc_client/e2e_block_session.py`);
    const out = await new Deno.Command("unshare", {
      args: [
        "--net",
        "--pid",
        "--fork",
        "--kill-child=SIGKILL",
        "/bin/sh",
        "-c",
        'ip link set lo up && exec "$@"',
        "sh",
        "/usr/bin/python3",
        script,
        stubs,
        wrapper,
        workdir,
      ],
      cwd: root.hostPath(`${CHECKOUT}/tests/grpc_client`),
      env: { PYTHONDONTWRITEBYTECODE: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    let report: ScenarioReport;
    try {
      report = JSON.parse(stdout);
    } catch {
      throw new Error(`${tag} block session printed no report (exit ${out.code}):\n${stderr}`);
    }
    const failed = report.checks.filter((c) => !c.ok);
    console.log(
      `${tag} block session (Core's flow, 4 blocks fed, stop after c): ` +
        `${report.checks.length - failed.length}/${report.checks.length} checks hold; ` +
        `capture ${report.values.capture_duration_s} s, ${report.values.socket_bytes} bytes`,
    );
    let engineLog = "";
    if (failed.length > 0) {
      engineLog = await Deno.readTextFile(`${workdir}/engine.log`).catch(() => "");
    }
    assert(
      report.ok,
      `${tag} block session failed:\n` +
        failed.map((c) => `  - ${c.check}: ${JSON.stringify(c.detail)}`).join("\n") +
        `\nengine log:\n${engineLog.slice(-4000)}`,
    );
    const verdict = await judgeTs(`${workdir}/capture.ts`);
    console.log(`${tag} block session TS, judged on the host: ${describe(verdict)}`);
    // Blocks a and b (4 s each at 25 fps) are on air in full before the stop.
    const found = problems(verdict, 200, 300);
    assert(found.length === 0, `${tag} block session TS: ${found.join("; ")}`);
  } finally {
    await Deno.remove(stubs, { recursive: true });
  }
}

/** An unsupported generation: `deno task start` must fail, naming the version found. */
async function refusesToStart(root: Root, v: Variant, tag: string, workdir: string) {
  const log = `${workdir}/refusal.log`;
  const status = await root.spawn(["deno", "task", "start"], log, {
    cwd: CHECKOUT,
    network: "own",
  }).done;
  const text = await Deno.readTextFile(log);
  const line = text.split("\n").find((l) => /FfmpegLoadError|unsupported/i.test(l)) ?? "";
  console.log(
    `${tag} the engine has no verified layout table for libavcodec ${v.avcodecMajor} ` +
      `(supported: ${SUPPORTED_AVCODEC_MAJORS.join(", ")}): start exits ${status.code}: ` +
      line.trim().slice(0, 300),
  );
  assert(!status.success, `${tag} the engine started on an unsupported FFmpeg:\n${text}`);
  assert(line !== "", `${tag} the refusal is no FfmpegLoadError:\n${text.slice(-3000)}`);
}

for (const v of VARIANTS) {
  const supported = SUPPORTED_AVCODEC_MAJORS.includes(v.avcodecMajor);
  const what = supported
    ? "ffi tests, a block session and the demo channel"
    : "refused at start (no verified layout table yet)";
  const next = VARIANTS[VARIANTS.indexOf(v) + 1];
  Deno.test({
    name: `FFmpeg ${v.ffmpeg} (${v.suite} root, libavcodec${v.avcodecMajor}): ${what}`,
    // The next variant's root is built while this one runs (ops outlive the test).
    sanitizeOps: false,
    sanitizeResources: false,
  }, async (t) => {
    const tag = `[ffmpeg ${v.ffmpeg} ${v.suite}]`;
    const t0 = performance.now();
    if (next) prepare(next);
    const root = await matrixRoot(v, tag);
    await Deno.mkdir(WORK_DIR, { recursive: true });
    const workdir = await Deno.makeTempDir({ dir: WORK_DIR, prefix: `ffmpeg-${v.ffmpeg}-logs-` });
    try {
      if (!supported) {
        await refusesToStart(root, v, tag, workdir);
        return;
      }
      const timed = async (name: string, fn: () => Promise<void>) => {
        const s = performance.now();
        await t.step(name, fn);
        console.log(`${tag} ${name}: ${((performance.now() - s) / 1000).toFixed(0)} s`);
      };
      await timed("ffi tests", () => ffiTests(root, tag, workdir));
      await timed("block session", () => blockSession(root, tag));
      await timed("demo channel", async () => {
        const demo = await playDemo(root, "deno task start", CHECKOUT, workdir);
        console.log(`${tag} demo channel (deno task start), judged on the host: ${demo.summary}`);
        assert(demo.problems.length === 0, `${tag} demo channel: ${demo.problems.join("; ")}`);
      });
    } finally {
      await root.dispose();
      await Deno.remove(workdir, { recursive: true });
      console.log(`${tag} total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
  });
}
