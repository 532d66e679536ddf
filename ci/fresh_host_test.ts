/**
 * The fresh-host proof (`deno task test:fresh`): for Debian 12 (bookworm) and 13 (trixie), a
 * pristine `debootstrap --variant=minbase` root, the committed checkout copied in with
 * `git archive HEAD`, and the README's first command run inside it as a newcomer runs it. The
 * demo channel's TS is read from outside the root and judged on the host by ffprobe, ffmpeg and
 * the TS analyzer.
 *
 * Two phases, so the engine runs in a network namespace of its own (its 8080/9308 collide with
 * nothing on this shared host): `./install.sh` first with the host's network (Debian mirror,
 * npm registry), then the README's first command verbatim with loopback only, whose
 * `./install.sh` must find everything in place (idempotent, offline) before
 * `deno task start`. Downloaded .debs are kept in the cache outside the clone; apt still
 * resolves and checks everything against fresh package lists.
 *
 * Ubuntu 24.04 is not tried: no Ubuntu mirror is reachable from CI.
 */

import { assert } from "../tests/assert.ts";
import { playDemo } from "./demo_channel.ts";
import { pristineRoot, Root, WORK_DIR } from "./root.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CHECKOUT = "/root/retrovue-playout";

/** The first `sh` block of the README's quick start: what a newcomer types. */
async function readmeFirstCommand(): Promise<string> {
  const readme = await Deno.readTextFile(`${REPO}/README.md`);
  const m = readme.match(/```sh\n([^\n]+)\n```/);
  assert(m, "README.md has no ```sh block");
  return m[1].trim();
}

const command = await readmeFirstCommand();
const install = command.split("&&")[0].trim();
assert(install.startsWith("./install.sh"), `README's first command starts with ${install}`);

/** The whole proof for one suite; progress lines go to `say`; throws when something fails. */
async function freshRun(suite: string, say: (line: string) => void): Promise<void> {
  const t0 = performance.now();
  const pristine = await pristineRoot(suite);
  say(
    `[fresh ${suite}] pristine minbase root: ${
      pristine.built ? `built by debootstrap in ${pristine.seconds.toFixed(0)} s` : "cached"
    } (${pristine.tar})`,
  );
  const root = await Root.create(suite);
  await Deno.mkdir(WORK_DIR, { recursive: true });
  const workdir = await Deno.makeTempDir({ dir: WORK_DIR, prefix: `fresh-${suite}-logs-` });
  try {
    await root.copyCheckout(REPO, CHECKOUT);
    const t1 = performance.now();
    const out = await root.withAptCache(() =>
      root.exec(["/bin/sh", "-c", install], { cwd: CHECKOUT })
    );
    const installS = (performance.now() - t1) / 1000;
    say(`[fresh ${suite}] '${install}' with the host's network: ${installS.toFixed(0)} s`);
    for (const line of out.trim().split("\n")) say(`[fresh ${suite}]   ${line}`);
    const demo = await playDemo(root, command, CHECKOUT, workdir);
    say(
      `[fresh ${suite}] '${command}' with loopback only: channel up after ` +
        `${demo.startS.toFixed(1)} s at ${demo.url}`,
    );
    say(`[fresh ${suite}] demo channel, judged on the host: ${demo.summary}`);
    assert(
      demo.problems.length === 0,
      `[fresh ${suite}] demo channel: ${demo.problems.join("; ")}`,
    );
  } finally {
    await root.dispose();
    await Deno.remove(workdir, { recursive: true });
    say(`[fresh ${suite}] total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
}

// Both suites run at once (mostly downloads and dpkg, little CPU); each test waits for its own
// run and prints what it did. The runs start before the tests, hence no op sanitizer.
const SUITES = ["bookworm", "trixie"];
const runs = new Map(SUITES.map((suite) => {
  const lines: string[] = [];
  const done = freshRun(suite, (l) => lines.push(l)).then(() => undefined, (err: Error) => err);
  return [suite, { lines, done }] as const;
}));

for (const suite of SUITES) {
  Deno.test({
    name: `fresh ${suite} root: README's '${command}' plays the demo channel`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const run = runs.get(suite)!;
      const err = await run.done;
      for (const line of run.lines) console.log(line);
      if (err) throw err;
    },
  });
}
