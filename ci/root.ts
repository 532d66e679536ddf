/**
 * Debian roots for the CI stages that need a host other than this one (`deno task test:fresh`,
 * `deno task test:ffmpeg`): pristine `debootstrap --variant=minbase` roots cached as tarballs
 * outside the clone, a fresh copy per test, and commands run in a copy by `chroot`.
 *
 * Isolation: every command runs under `unshare --mount --propagation private --pid --fork`, so
 * `/proc`, `/dev` and `/sys` are mounted into the root only inside that private mount namespace
 * (they vanish with it, even when the run is killed; nothing is ever mounted on the host's side)
 * and every process it started dies with it. With `network: "own"` it also gets its own network
 * namespace with only a loopback interface: the engine's 8080/9308 cannot collide with anything
 * else on this host, and the run proves it needs no network.
 *
 * ```ts
 * const root = await Root.create("bookworm");
 * try {
 *   await root.exec(["apt-get", "update"]);
 * } finally {
 *   await root.dispose();
 * }
 * ```
 *
 * @module
 */

/** Where pristine roots, apt/npm download caches and host tools are kept (outside the clone). */
export const CACHE_DIR = Deno.env.get("RETROVUE_CI_CACHE") ?? "/var/cache/retrovue-playout-ci";
/** Where root copies of a run live while it runs. */
export const WORK_DIR = Deno.env.get("RETROVUE_CI_WORK") ?? "/var/tmp/retrovue-playout-ci";
/** A cached root older than this is rebuilt (Debian moves; sid daily). */
const MAX_ROOT_AGE_MS = 7 * 24 * 3600 * 1000;
/** PATH inside a root. */
const ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** A command in a root (or on the host, setting one up) failed. */
export class RootCommandError extends Error {
  override name = "RootCommandError";
  constructor(
    readonly what: string,
    readonly code: number,
    readonly output: string,
  ) {
    super(`${what} exited with ${code}\n${output.slice(-6000)}`);
  }
}

/** Options of a command run in a root. */
export interface RootRunOptions {
  /**
   * "host": the caller's network (the host's: apt, npm); "own": a new network namespace with
   * loopback only.
   */
  network?: "host" | "own";
  /** Working directory inside the root. */
  cwd?: string;
  /** Environment inside the root, added to PATH, HOME, LANG and TERM. */
  env?: Record<string, string>;
  /**
   * false: no pid namespace, and the command replaces the calling process (same pid, its
   * signals and exit code), for a program that someone else spawns and stops. Default true.
   */
  ownPids?: boolean;
}

/** Runs a host command; returns stdout+stderr; throws {@link RootCommandError} on failure. */
export async function host(argv: string[], what = argv.join(" ")): Promise<string> {
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped" })
    .output()
    .catch((err) => {
      throw new RootCommandError(what, -1, String(err));
    });
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new RootCommandError(what, out.code, text);
  return text;
}

/** The Debian mirror this host's apt sources use (deb822 `URIs:` or a `deb` line). */
export async function hostMirror(): Promise<string> {
  const texts: string[] = [];
  for (const dir of ["/etc/apt/sources.list.d"]) {
    for await (const e of Deno.readDir(dir)) {
      if (e.name.endsWith(".sources") || e.name.endsWith(".list")) {
        texts.push(await Deno.readTextFile(`${dir}/${e.name}`));
      }
    }
  }
  try {
    texts.push(await Deno.readTextFile("/etc/apt/sources.list"));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const uris = texts.flatMap((t) => [
    ...[...t.matchAll(/^URIs:\s*(.+)$/gm)].flatMap((m) => m[1].trim().split(/\s+/)),
    ...[...t.matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/gm)].map((m) => m[1]),
  ]);
  const mirror = uris.find((u) => /^https?:\/\//.test(u) && !u.includes("security"));
  if (!mirror) throw new Error(`no Debian mirror in this host's apt sources (found: ${uris})`);
  return mirror;
}

/** Holds an exclusive lock on `CACHE_DIR/<name>.lock` while `fn` runs (parallel CI runs). */
async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  await Deno.mkdir(CACHE_DIR, { recursive: true });
  const file = await Deno.open(`${CACHE_DIR}/${name}.lock`, { create: true, write: true });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close();
  }
}

async function fresh(path: string): Promise<boolean> {
  try {
    const st = await Deno.stat(path);
    return Date.now() - (st.mtime?.getTime() ?? 0) < MAX_ROOT_AGE_MS;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** How a cached root tarball came to be: from the cache, or built now (with the time it took). */
export interface CachedRoot {
  tar: string;
  built: boolean;
  seconds: number;
}

/** Apt configuration a root of `suite` needs on this mirror (sid's Release is past Valid-Until). */
function aptConfigFor(suite: string): string | undefined {
  return suite === "sid" || suite === "unstable"
    ? 'Acquire::Check-Valid-Until "false";\n'
    : undefined;
}

/**
 * The pristine `debootstrap --variant=minbase SUITE` root, as a tarball in CACHE_DIR/roots/
 * (built when missing or older than a week). Nothing else is added, except for sid the apt
 * setting this mirror needs.
 */
export function pristineRoot(suite: string): Promise<CachedRoot> {
  const tar = `${CACHE_DIR}/roots/${suite}.tar`;
  return withLock(`root-${suite}`, async () => {
    if (await fresh(tar)) return { tar, built: false, seconds: 0 };
    const t0 = performance.now();
    const mirror = await hostMirror();
    await Deno.mkdir(`${CACHE_DIR}/roots`, { recursive: true });
    await Deno.mkdir(`${CACHE_DIR}/debootstrap/${suite}`, { recursive: true });
    await Deno.mkdir(WORK_DIR, { recursive: true });
    const dir = await Deno.makeTempDir({ dir: WORK_DIR, prefix: `debootstrap-${suite}-` });
    try {
      await host(
        [
          "debootstrap",
          "--variant=minbase",
          `--cache-dir=${CACHE_DIR}/debootstrap/${suite}`,
          suite,
          dir,
          mirror,
        ],
        `debootstrap --variant=minbase ${suite} (${mirror})`,
      );
      const aptConf = aptConfigFor(suite);
      if (aptConf) {
        await Deno.writeTextFile(`${dir}/etc/apt/apt.conf.d/99retrovue-ci-valid-until`, aptConf);
      }
      await writeTar(dir, tar);
    } finally {
      await removeTree(dir);
    }
    return { tar, built: true, seconds: (performance.now() - t0) / 1000 };
  });
}

/**
 * A root derived from `base`'s pristine root by installing `packages` with apt (no
 * recommends), cached as CACHE_DIR/roots/<name>.tar; rebuilt when missing, older than a week,
 * or when the package list changed.
 */
export function preparedRoot(
  name: string,
  base: string,
  packages: string[],
): Promise<CachedRoot> {
  const tar = `${CACHE_DIR}/roots/${name}.tar`;
  const stamp = `${tar}.packages`;
  const want = packages.join(" ") + "\n";
  return withLock(`root-${name}`, async () => {
    const have = await Deno.readTextFile(stamp).catch(() => "");
    if (have === want && await fresh(tar)) return { tar, built: false, seconds: 0 };
    const t0 = performance.now();
    const pristine = await pristineRoot(base);
    const root = await Root.fromTar(pristine.tar, `prepare-${name}`);
    try {
      await root.aptInstall(packages);
      await root.exec(["apt-get", "clean"]);
      await writeTar(root.path, tar);
      await Deno.writeTextFile(stamp, want);
    } finally {
      await root.dispose();
    }
    return { tar, built: true, seconds: (performance.now() - t0) / 1000 };
  });
}

async function writeTar(dir: string, tar: string): Promise<void> {
  await Deno.chmod(dir, 0o755); // becomes the root's "/"
  const tmp = `${tar}.tmp-${Deno.pid}`;
  await host(["tar", "--numeric-owner", "-C", dir, "-cf", tmp, "."], `tar of ${dir}`);
  await Deno.rename(tmp, tar);
}

/** Mount points at or under `path` in this process's mount namespace. */
async function mountsUnder(path: string): Promise<string[]> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  return text.split("\n").map((l) => l.split(" ")[4]).filter((m) =>
    m !== undefined && (m === path || m.startsWith(path + "/"))
  );
}

/**
 * Removes a root copy. Refuses (throws) when anything is mounted under it, so a bind mount of a
 * host directory can never be deleted through; `--one-file-system` as a second guard.
 */
async function removeTree(path: string): Promise<void> {
  if (!path.startsWith(WORK_DIR + "/")) throw new Error(`refusing to remove ${path}`);
  const mounts = await mountsUnder(path);
  if (mounts.length > 0) {
    throw new Error(`refusing to remove ${path}: still mounted: ${mounts.join(", ")}`);
  }
  await host(["rm", "-rf", "--one-file-system", path]);
}

let copies = 0;
let swept = false;

/**
 * Removes root copies left by runs that were killed (their pid, in the copy's name, is gone);
 * nothing of theirs is mounted, since mounts live only in the namespaces that died with them.
 */
async function sweepStale(): Promise<void> {
  if (swept) return;
  swept = true;
  for await (const e of Deno.readDir(WORK_DIR)) {
    const pid = e.name.match(/^.+-(\d+)-\d+$/)?.[1];
    if (!e.isDirectory || !pid || Number(pid) === Deno.pid) continue;
    try {
      await Deno.stat(`/proc/${pid}`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      console.log(`removing ${WORK_DIR}/${e.name}, left by a run that is gone`);
      await removeTree(`${WORK_DIR}/${e.name}`);
    }
  }
}

/** One copy of a root, for one test. */
export class Root {
  private constructor(
    /** Absolute path of the copy on the host. */
    readonly path: string,
    /** Suite or variant name, for messages. */
    readonly name: string,
  ) {}

  /** A fresh copy of the pristine `suite` root (built first when missing). */
  static async create(suite: string): Promise<Root> {
    return Root.fromTar((await pristineRoot(suite)).tar, suite);
  }

  /** A fresh copy of a cached root tarball. */
  static async fromTar(tar: string, name: string): Promise<Root> {
    await Deno.mkdir(WORK_DIR, { recursive: true });
    await sweepStale();
    const path = `${WORK_DIR}/${name}-${Deno.pid}-${++copies}`;
    await removeTree(path).catch((err) => {
      if (!(err instanceof RootCommandError)) throw err;
    });
    await Deno.mkdir(path);
    const root = new Root(path, name);
    try {
      await host(["tar", "--numeric-owner", "-C", path, "-xf", tar], `unpacking ${tar}`);
      await Deno.chmod(path, 0o755); // "/" of the root: apt's _apt user must traverse it
      // The host's resolver and its local trust anchors (e.g. a TLS-inspecting proxy's CA in
      // /usr/local/share/ca-certificates): what any host on this network is configured with.
      await Deno.copyFile("/etc/resolv.conf", `${path}/etc/resolv.conf`);
      await Deno.mkdir(`${path}/usr/local/share/ca-certificates`, { recursive: true });
      for await (const e of Deno.readDir("/usr/local/share/ca-certificates")) {
        if (e.isFile && e.name.endsWith(".crt")) {
          await Deno.copyFile(
            `/usr/local/share/ca-certificates/${e.name}`,
            `${path}/usr/local/share/ca-certificates/${e.name}`,
          );
        }
      }
    } catch (err) {
      await root.dispose();
      throw err;
    }
    return root;
  }

  /** Host path of `inner`, a path inside the root. */
  hostPath(inner: string): string {
    return `${this.path}${inner.startsWith("/") ? "" : "/"}${inner}`;
  }

  /**
   * The host argv that runs `argv` in the root (see the module doc for the namespaces). The
   * process it starts is the namespace's init: killing it kills everything started inside.
   */
  command(argv: string[], opts: RootRunOptions = {}): string[] {
    const env = {
      PATH: ROOT_PATH,
      HOME: "/root",
      LANG: "C.UTF-8",
      TERM: "dumb",
      ...opts.env,
    };
    const script = [
      'R="$1"; NET="$2"; CWD="$3"; shift 3',
      'if [ "$NET" = own ]; then ip link set lo up; fi',
      // "/" of the root is a mount point, as on a real host (`unshare -m` inside needs that).
      'mount --bind "$R" "$R"',
      'mount -t proc proc "$R/proc"',
      'mount --rbind /dev "$R/dev"',
      'mount -t sysfs sysfs "$R/sys"',
      'exec chroot "$R" /usr/bin/env -i "$@"',
    ].join("\n");
    return [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      ...(opts.ownPids === false ? [] : ["--pid", "--fork", "--kill-child=SIGKILL"]),
      ...(opts.network === "own" ? ["--net"] : []),
      "/bin/sh",
      "-ec",
      script,
      "sh",
      this.path,
      opts.network ?? "host",
      opts.cwd ?? "/",
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      "/bin/sh",
      "-c",
      'cd "$0" && exec "$@"',
      opts.cwd ?? "/",
      ...argv,
    ];
  }

  /**
   * A host shell script that runs `program` in the root with the script's own arguments, in
   * the caller's working directory and network, as the same process (so whoever spawns the
   * script signals and reaps `program` itself). Paths the caller passes must be valid inside
   * the root: see {@link linkSelf}.
   */
  wrapperScript(program: string, opts: RootRunOptions = {}): string {
    const CWD = "\u0000cwd";
    const cmd = this.command([program], { ...opts, ownPids: false, cwd: CWD });
    const words = cmd.map((a) => a === CWD ? '"$PWD"' : `'${a.replaceAll("'", `'\\''`)}'`);
    return `#!/bin/sh\nexec ${words.join(" ")} "$@"\n`;
  }

  /**
   * Makes the root's host path name its own "/" inside the root (a relative symlink), so a host
   * path under the root (media, sockets, a checkout) names the same file inside and out.
   */
  async linkSelf(): Promise<void> {
    const self = this.hostPath(this.path);
    await Deno.mkdir(self.slice(0, self.lastIndexOf("/")), { recursive: true });
    await Deno.symlink("../".repeat(this.path.split("/").length - 2) + ".", self);
  }

  /** Starts `argv` in the root; stdout and stderr go to `logPath` on the host. */
  spawn(argv: string[], logPath: string, opts: RootRunOptions = {}): RootProcess {
    const child = new Deno.Command("/bin/sh", {
      args: ["-c", 'exec "$@" > "$0" 2>&1', logPath, ...this.command(argv, opts)],
      stdin: "null",
    }).spawn();
    return new RootProcess(child, child.status, logPath);
  }

  /** Runs `argv` in the root to completion; returns its output; throws when it fails. */
  async exec(argv: string[], opts: RootRunOptions = {}): Promise<string> {
    return await host(this.command(argv, opts), `[${this.name}] ${argv.join(" ")}`);
  }

  /**
   * `apt-get update` and `apt-get install --no-install-recommends` in the root, with the .debs
   * kept between runs in CACHE_DIR/apt/<root name>/ (hard-linked in and out; apt still checks
   * each against the fresh package lists).
   */
  async aptInstall(packages: string[]): Promise<void> {
    await this.withAptCache(async () => {
      await this.exec(["apt-get", "update", "-qq"]);
      await this.exec(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...packages],
        { env: { DEBIAN_FRONTEND: "noninteractive" } },
      );
    });
  }

  /** Runs `fn` with the apt download cache of this root's suite linked in, then saves it. */
  async withAptCache<T>(fn: () => Promise<T>): Promise<T> {
    const suite = await this.suite();
    const cache = `${CACHE_DIR}/apt/${suite}`;
    const archives = this.hostPath("/var/cache/apt/archives");
    await Deno.mkdir(cache, { recursive: true });
    await linkDebs(cache, archives);
    try {
      return await fn();
    } finally {
      await linkDebs(archives, cache);
    }
  }

  /** The suite recorded in the root's os-release (VERSION_CODENAME), e.g. "bookworm". */
  async suite(): Promise<string> {
    const text = await Deno.readTextFile(this.hostPath("/etc/os-release"));
    const codename = text.match(/^VERSION_CODENAME=(.*)$/m)?.[1];
    const pretty = text.match(/^PRETTY_NAME="?(.*?)"?$/m)?.[1] ?? "";
    return codename || (pretty.includes("sid") ? "sid" : this.name);
  }

  /** Copies `git archive HEAD` of the checkout at `repo` into `inner` (committed files only). */
  async copyCheckout(repo: string, inner: string): Promise<void> {
    const dest = this.hostPath(inner);
    await Deno.mkdir(dest, { recursive: true });
    const archive = `${this.path}.checkout.tar`;
    try {
      await host(["git", "-C", repo, "archive", "--format=tar", "-o", archive, "HEAD"]);
      await host(["tar", "-C", dest, "-xf", archive]);
    } finally {
      await Deno.remove(archive).catch(() => {});
    }
  }

  /** Removes the copy (refusing if anything is mounted under it). */
  async dispose(): Promise<void> {
    await removeTree(this.path);
  }
}

/** Hard-links (or copies, across file systems) the .debs of `from` missing in `to`. */
async function linkDebs(from: string, to: string): Promise<void> {
  for await (const e of Deno.readDir(from)) {
    if (!e.isFile || !e.name.endsWith(".deb")) continue;
    const dest = `${to}/${e.name}`;
    try {
      await Deno.lstat(dest);
      continue;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    try {
      await Deno.link(`${from}/${e.name}`, dest);
    } catch {
      await Deno.copyFile(`${from}/${e.name}`, dest);
    }
  }
}

/** A process started in a root by {@link Root.spawn}. */
export class RootProcess {
  constructor(
    private readonly child: Deno.ChildProcess,
    /** Resolves when it has exited and its log is written. */
    readonly done: Promise<Deno.CommandStatus>,
    /** Host path of its log. */
    readonly logPath: string,
  ) {}

  /** Host pid (the namespace's init; its network namespace is /proc/<pid>/ns/net). */
  get pid(): number {
    return this.child.pid;
  }

  /** argv prefix that runs a host program in this process's network namespace. */
  inNetwork(): string[] {
    return ["nsenter", `--net=/proc/${this.child.pid}/ns/net`];
  }

  /** Kills everything it started (the pid namespace goes with its init). */
  async kill(): Promise<Deno.CommandStatus> {
    try {
      this.child.kill("SIGKILL");
    } catch (err) {
      if (!(err instanceof TypeError)) throw err; // already exited
    }
    return await this.done;
  }

  /** The last `n` characters of its log. */
  async tail(n = 4000): Promise<string> {
    const text = await Deno.readTextFile(this.logPath).catch(() => "");
    return text.slice(-n);
  }
}
