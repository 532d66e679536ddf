/**
 * Public headers of every FFmpeg release line the engine supports, for compiling the
 * `offsetof` probe (`tests/probe/layout_probe.c`) against them. Nothing is installed:
 *
 * - 5.1: this host's own `libav*-dev` when they are 5.1 (Debian 12) and include
 *   `libavfilter-dev`, else Debian 12's `-dev` packages downloaded like 7.1's.
 * - 6.1: `shared/ffmpeg-headers/6.1/` beside the clone (FFmpeg 6.1.3's public headers; no
 *   registry serves them), found in the clone's parent directories. That set has no
 *   libavfilter: its major (9) is checked at load, not from headers.
 * - 7.1 / 9.0: Debian 13's / Debian unstable's `-dev` packages, downloaded at one exact version
 *   with a private apt state (`apt-get download`) and unpacked with `dpkg-deb -x`.
 * - 8.1: no Debian suite has its `-dev` packages, but Debian unstable still carries the source
 *   package its `libav*62` runtime packages were built from: `apt-get source --download-only`
 *   fetches the upstream release tarball, whose public headers (each library's `HEADERS` list)
 *   are unpacked, plus the two-line `libavutil/avconfig.h` that FFmpeg's configure writes.
 *
 * Downloads go to a cache outside the clone (`/var/cache/retrovue-playout-ci/ffmpeg-headers/`,
 * or `$XDG_CACHE_HOME`/`~/.cache` when that is not writable), keyed by exact version, and are
 * reused on the next run. Run as a script to fill the cache: `deno run -A tests/ffmpeg_headers.ts`.
 *
 * @module
 */

import { runCommand } from "../packaging/command.ts";

/** A release line the layout tables cover. */
export type Release = "5.1" | "6.1" | "7.1" | "8.1" | "9.0";

/** Every release line, oldest first. */
export const RELEASES: readonly Release[] = ["5.1", "6.1", "7.1", "8.1", "9.0"];

/** Where a release's headers came from, for the test's output and the README. */
export interface HeaderSet {
  release: Release;
  /** Directory to pass to `gcc -I`. */
  include: string;
  /** E.g. "Debian trixie libavcodec-dev 7:7.1.5-0+deb13u1". */
  provenance: string;
}

/** Why a release's headers could not be had. */
export class HeadersUnavailableError extends Error {
  constructor(readonly release: Release, reason: string) {
    super(`FFmpeg ${release} headers unavailable: ${reason}`);
    this.name = "HeadersUnavailableError";
  }
}

const DEV_PACKAGES = [
  "libavcodec-dev",
  "libavformat-dev",
  "libavutil-dev",
  "libswscale-dev",
  "libswresample-dev",
  "libavfilter-dev",
];
const LIBRARIES = [
  "libavcodec",
  "libavformat",
  "libavutil",
  "libswscale",
  "libswresample",
  "libavfilter",
];
const MULTIARCH = "x86_64-linux-gnu";

/**
 * Debian sources of each downloaded release: suite, the exact version pinned when the table was
 * verified, and the upstream prefix any replacement version must have (a suite moves on; the
 * newest version of the same release line is taken then, and named in the provenance).
 */
const DEBIAN: Record<"5.1" | "7.1" | "8.1" | "9.0", {
  suite: string;
  pin: string;
  line: string;
  kind: "dev" | "source";
}> = {
  "5.1": { suite: "bookworm", pin: "7:5.1.9-0+deb12u1", line: "7:5.1.", kind: "dev" },
  "7.1": { suite: "trixie", pin: "7:7.1.5-0+deb13u1", line: "7:7.1.", kind: "dev" },
  "8.1": { suite: "sid", pin: "7:8.1.2-2", line: "7:8.1.", kind: "source" },
  "9.0": { suite: "sid", pin: "7:9.0.2-4", line: "7:9.0.", kind: "dev" },
};

const REPO_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** The headers of `release`, downloading them into the cache when needed. */
export async function ffmpegHeaders(release: Release): Promise<HeaderSet> {
  if (release === "6.1") return sharedHeaders();
  if (release === "5.1") {
    const system = await systemHeaders();
    if (system) return system;
  }
  return await debianHeaders(release);
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

async function avcodecMajor(include: string): Promise<number | undefined> {
  for (const file of ["version_major.h", "version.h"]) {
    try {
      const text = await Deno.readTextFile(`${include}/libavcodec/${file}`);
      const m = /#define\s+LIBAVCODEC_VERSION_MAJOR\s+(\d+)/.exec(text);
      if (m) return Number(m[1]);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return undefined;
}

async function systemHeaders(): Promise<HeaderSet | undefined> {
  for (const include of [`/usr/include/${MULTIARCH}`, "/usr/include"]) {
    if (
      await avcodecMajor(include) === 59 && await exists(`${include}/libavfilter/version.h`)
    ) {
      const version = await dpkgVersion("libavcodec-dev");
      return {
        release: "5.1",
        include,
        provenance: `this host's libavcodec-dev ${version ?? "(not from dpkg)"} in ${include}`,
      };
    }
  }
  return undefined;
}

async function dpkgVersion(pkg: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("dpkg-query", {
      args: ["-W", "-f=${Version}", pkg],
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout) : undefined;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

async function sharedHeaders(): Promise<HeaderSet> {
  let dir = REPO_ROOT;
  for (;;) {
    const parent = dir.replace(/\/[^/]+$/, "") || "/";
    const candidate = `${parent === "/" ? "" : parent}/shared/ffmpeg-headers/6.1`;
    if (await avcodecMajor(candidate) === 60) {
      return {
        release: "6.1",
        include: candidate,
        provenance: `FFmpeg 6.1.3 public headers in ${candidate} (see its README.md)`,
      };
    }
    if (parent === dir || parent === "/") break;
    dir = parent;
  }
  throw new HeadersUnavailableError(
    "6.1",
    `no shared/ffmpeg-headers/6.1 with libavcodec 60 beside ${REPO_ROOT} or above it`,
  );
}

/** The cache root: the first of the candidates that is writable. */
async function cacheRoot(): Promise<string> {
  const home = Deno.env.get("HOME");
  const candidates = [
    "/var/cache/retrovue-playout-ci/ffmpeg-headers",
    ...(Deno.env.get("XDG_CACHE_HOME")
      ? [`${Deno.env.get("XDG_CACHE_HOME")}/retrovue-playout-ci/ffmpeg-headers`]
      : []),
    ...(home ? [`${home}/.cache/retrovue-playout-ci/ffmpeg-headers`] : []),
  ];
  for (const dir of candidates) {
    try {
      await Deno.mkdir(dir, { recursive: true });
      const probe = await Deno.makeTempFile({ dir });
      await Deno.remove(probe);
      return dir;
    } catch (err) {
      if (!(err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotFound)) {
        throw err;
      }
    }
  }
  throw new Error(`no writable cache directory among ${candidates.join(", ")}`);
}

/** Stdout of `cmd`; a failure throws `CommandFailedError` with its stderr. */
async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  return (await runCommand([cmd, ...args], { cwd })).stdout;
}

/** The Debian mirror this host's apt uses (deb822 `URIs:` or a one-line `deb` entry). */
async function mirror(): Promise<string> {
  const files: string[] = [];
  try {
    for await (const e of Deno.readDir("/etc/apt/sources.list.d")) {
      if (e.isFile) files.push(`/etc/apt/sources.list.d/${e.name}`);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  files.push("/etc/apt/sources.list");
  for (const file of files) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      throw err;
    }
    for (const line of text.split("\n")) {
      const m = /^URIs:\s*(\S+)/.exec(line) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line);
      // Debian's main archive (not -security, not a third-party repository such as NodeSource).
      if (m && /\/debian\/?$/.test(m[1])) return m[1];
    }
  }
  return "http://deb.debian.org/debian";
}

/** A private apt state listing only `suite` (binary and source indexes). */
async function aptState(root: string, suite: string): Promise<string[]> {
  const dir = `${root}/.apt-${suite}`;
  for (const sub of ["parts", "state/lists/partial", "cache/archives/partial", "etc"]) {
    await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
  }
  await Deno.writeTextFile(
    `${dir}/parts/${suite}.sources`,
    `Types: deb deb-src\nURIs: ${await mirror()}\nSuites: ${suite}\nComponents: main\n` +
      "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
  );
  await Deno.writeTextFile(`${dir}/etc/empty.list`, "");
  await Deno.writeTextFile(`${dir}/state/status`, "");
  const opts = [
    `Dir::Etc::SourceParts=${dir}/parts`,
    `Dir::Etc::SourceList=${dir}/etc/empty.list`,
    `Dir::State=${dir}/state`,
    `Dir::Cache=${dir}/cache`,
    `Dir::State::status=${dir}/state/status`,
    // sid's Release file on Debian's mirrors may be past its Valid-Until date.
    "Acquire::Check-Valid-Until=false",
  ].flatMap((o) => ["-o", o]);
  // apt-get update exits 0 even when a source failed: require the index itself.
  const out = await run("apt-get", [...opts, "-q", "update"]);
  let lists = 0;
  for await (const e of Deno.readDir(`${dir}/state/lists`)) {
    if (e.name.includes("_Packages")) lists++;
  }
  if (lists === 0) throw new Error(`apt-get update got no ${suite} index: ${out.trim()}`);
  return opts;
}

/** Every version of `pkg` (binary, or with `source` the source package) the index lists. */
async function versions(opts: string[], pkg: string, source: boolean): Promise<string[]> {
  if (source) {
    const text = await run("apt-cache", [...opts, "showsrc", pkg]);
    return [...text.matchAll(/^Version:\s*(\S+)/gm)].map((m) => m[1]);
  }
  const text = await run("apt-cache", [...opts, "madison", pkg]);
  return text.split("\n").map((l) => l.split("|")[1]?.trim()).filter((v): v is string => !!v);
}

async function newest(list: string[]): Promise<string | undefined> {
  let best: string | undefined;
  for (const v of list) {
    if (best === undefined) {
      best = v;
      continue;
    }
    const out = await new Deno.Command("dpkg", { args: ["--compare-versions", v, "gt", best] })
      .output();
    if (out.success) best = v;
  }
  return best;
}

async function debianHeaders(release: keyof typeof DEBIAN): Promise<HeaderSet> {
  const { suite, pin, line, kind } = DEBIAN[release];
  const root = await cacheRoot();
  const pkg = kind === "dev" ? "libavcodec-dev" : "ffmpeg";
  // A cached set of any version of this line is reused: no network on rerun.
  const cached = await cachedSet(root, release);
  if (cached) return cached;
  let opts: string[];
  try {
    opts = await aptState(root, suite);
  } catch (err) {
    throw new HeadersUnavailableError(release, (err as Error).message);
  }
  const available = await versions(opts, pkg, kind === "source");
  const version = available.includes(pin)
    ? pin
    : await newest(available.filter((v) => v.startsWith(line)));
  if (version === undefined) {
    throw new HeadersUnavailableError(
      release,
      `Debian ${suite} has no ${pkg} ${line}* (has: ${available.join(", ") || "none"})`,
    );
  }
  const target = `${root}/${release}/${version.replace(/^\d+:/, "")}`;
  const work = await Deno.makeTempDir({ dir: root, prefix: `.${release}-` });
  try {
    let provenance: string;
    if (kind === "dev") {
      await run("apt-get", [
        ...opts,
        "-q",
        "download",
        ...DEV_PACKAGES.map((p) => `${p}=${version}`),
      ], work);
      for await (const e of Deno.readDir(work)) {
        if (e.name.endsWith(".deb")) {
          await run("dpkg-deb", ["-x", `${work}/${e.name}`, `${work}/root`]);
        }
      }
      await Deno.rename(`${work}/root/usr/include/${MULTIARCH}`, `${work}/include`);
      provenance = `Debian ${suite} ${DEV_PACKAGES.join(", ")} ${version} (apt-get download)`;
    } else {
      await run("apt-get", [...opts, "-q", "source", "--download-only", `${pkg}=${version}`], work);
      const upstream = version.replace(/^\d+:/, "").replace(/-[^-]+$/, "");
      const tarball = `${pkg}_${upstream}.orig.tar.xz`;
      const top = `ffmpeg-${upstream}`;
      await run("tar", [
        "-xJf",
        tarball,
        "--wildcards",
        ...LIBRARIES.flatMap((l) => [`${top}/${l}/Makefile`, `${top}/${l}/*.h`]),
      ], work);
      for (const lib of LIBRARIES) {
        const makefile = await Deno.readTextFile(`${work}/${top}/${lib}/Makefile`);
        const headers = publicHeaders(makefile);
        if (headers.length === 0) throw new Error(`${lib}/Makefile lists no HEADERS`);
        await Deno.mkdir(`${work}/include/${lib}`, { recursive: true });
        for (const h of headers) {
          await Deno.copyFile(`${work}/${top}/${lib}/${h}`, `${work}/include/${lib}/${h}`);
        }
      }
      // Written by FFmpeg's configure; these are its values on every little-endian x86-64.
      await Deno.writeTextFile(
        `${work}/include/libavutil/avconfig.h`,
        "/* Generated by ffmpeg configure */\n#ifndef AVUTIL_AVCONFIG_H\n" +
          "#define AVUTIL_AVCONFIG_H\n#define AV_HAVE_BIGENDIAN 0\n" +
          "#define AV_HAVE_FAST_UNALIGNED 1\n#endif /* AVUTIL_AVCONFIG_H */\n",
      );
      const sha = (await run("sha256sum", [`${work}/${tarball}`])).split(" ")[0];
      provenance = `Debian ${suite} source package ffmpeg ${version}: ${tarball} ` +
        `(sha256 ${sha}), public headers per each library's Makefile HEADERS, avconfig.h ` +
        `written as configure does for x86-64`;
    }
    await Deno.writeTextFile(`${work}/include/PROVENANCE`, provenance + "\n");
    await Deno.mkdir(`${root}/${release}`, { recursive: true });
    if (await exists(target) && !(await exists(`${target}/libavfilter/version.h`))) {
      // Cached before libavfilter joined the libraries: replaced by the complete set.
      await Deno.remove(target, { recursive: true });
    }
    try {
      await Deno.rename(`${work}/include`, target);
    } catch (err) {
      // Another run finished first: its copy is as good.
      if (!(err instanceof Deno.errors.AlreadyExists) && !(await exists(target))) throw err;
    }
    return { release, include: target, provenance };
  } catch (err) {
    if (err instanceof HeadersUnavailableError) throw err;
    throw new HeadersUnavailableError(release, (err as Error).message);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

async function cachedSet(root: string, release: Release): Promise<HeaderSet | undefined> {
  const dir = `${root}/${release}`;
  if (!(await exists(dir))) return undefined;
  for await (const e of Deno.readDir(dir)) {
    const include = `${dir}/${e.name}`;
    if (!e.isDirectory || !(await exists(`${include}/PROVENANCE`))) continue;
    // Sets cached before libavfilter joined the libraries are fetched again.
    if (!(await exists(`${include}/libavfilter/version.h`))) continue;
    const provenance = (await Deno.readTextFile(`${include}/PROVENANCE`)).trim();
    return { release, include, provenance: `${provenance} [cached in ${include}]` };
  }
  return undefined;
}

/** The file names of a library Makefile's `HEADERS = a.h b.h \ ...` list. */
function publicHeaders(makefile: string): string[] {
  const m = /^HEADERS\s*=((?:.*\\\n)*.*)$/m.exec(makefile);
  return m ? m[1].replace(/\\\n/g, " ").split(/\s+/).filter((h) => h.endsWith(".h")) : [];
}

if (import.meta.main) {
  for (const release of Deno.args.length > 0 ? Deno.args as Release[] : RELEASES) {
    const set = await ffmpegHeaders(release);
    console.log(`${release}: ${set.include}\n  ${set.provenance}`);
  }
}
