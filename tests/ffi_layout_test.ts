/**
 * Layout tables vs the real headers: compiles tests/probe/layout_probe.c with gcc against the
 * public headers of every supported FFmpeg release line (tests/ffmpeg_headers.ts fetches and
 * caches them) and compares every offset, size and library major with ffi/layout.ts. In CI
 * (CI=true) a header set that cannot be had fails the run; elsewhere its table's test is
 * reported as ignored, with the reason in its name.
 */
import { assert, assertEquals } from "./assert.ts";
import { LAYOUTS, type LayoutTable, SUPPORTED_AVCODEC_MAJORS } from "../ffi/layout.ts";
import { ffmpegRelease, ffmpegVersions } from "../ffi/mod.ts";
import { ffmpeg, libraryFileNames } from "../ffi/library.ts";
import { checkLayout } from "../ffi/_layout_check.ts";
import { FFMPEG_DEPENDS } from "../packaging/package_metadata.ts";
import { ffmpegHeaders, type HeaderSet, RELEASES } from "./ffmpeg_headers.ts";

const PROBE = new URL("./probe/layout_probe.c", import.meta.url).pathname;
const IN_CI = Deno.env.get("CI") === "true";

async function probe(includeDir: string): Promise<Map<string, number>> {
  const dir = await Deno.makeTempDir();
  try {
    const exe = `${dir}/probe`;
    // libavfilter's major is read only from the set's own headers (FFmpeg 6.1's shared set has
    // none, and the host's, if installed, are another release's).
    const hasAvfilter = await Deno.stat(`${includeDir}/libavfilter/version.h`).then(
      () => true,
      () => false,
    );
    const args = ["-I", includeDir, ...(hasAvfilter ? ["-DRV_SET_HAS_AVFILTER"] : [])];
    args.push("-o", exe, PROBE);
    const cc = await new Deno.Command("gcc", { args, stderr: "piped" }).output();
    assert(cc.success, `gcc failed: ${new TextDecoder().decode(cc.stderr)}`);
    const run = await new Deno.Command(exe, { stdout: "piped" }).output();
    assert(run.success, "probe failed");
    const values = new Map<string, number>();
    for (const line of new TextDecoder().decode(run.stdout).trim().split("\n")) {
      const [key, value] = line.split(" ");
      if (key === "version") {
        for (const [, lib, major] of line.matchAll(/(\w+)=(\d+)/g)) {
          values.set(`majors.${lib}`, Number(major));
        }
        continue;
      }
      values.set(key.includes(".") ? key : `${key}.sizeof`, Number(value));
    }
    return values;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Compares the probe's values with the table of `release`. Returns the table entries the
 * header set could not verify: only `majors.avfilter`, for a set without libavfilter's headers
 * (FFmpeg 6.1's shared set); the loader still checks that major against the library itself.
 */
function compare(release: string, values: Map<string, number>): string[] {
  const major = values.get("majors.avcodec")!;
  const table = LAYOUTS[major];
  assert(table !== undefined, `no layout table for avcodec ${major}`);
  assertEquals(table.release, release, `table ${major} is for FFmpeg ${release}`);
  let checked = 0;
  for (const [key, value] of values) {
    const [struct, field] = key.split(".");
    const layout = (table as unknown as Record<string, Record<string, number>>)[struct];
    assert(layout !== undefined, `table ${major} has no ${struct}`);
    assertEquals(layout[field], value, `${major}: ${key}`);
    checked++;
  }
  // Every field of the table is printed by the probe (no unchecked entries).
  const unverified: string[] = [];
  for (const [struct, fields] of Object.entries(table)) {
    if (typeof fields !== "object") continue;
    for (const field of Object.keys(fields)) {
      const key = `${struct}.${field}`;
      if (key === "majors.avfilter" && !values.has(key)) {
        unverified.push(key);
        continue;
      }
      assert(values.has(key), `probe does not print ${key}`);
    }
  }
  assert(checked > 85, `only ${checked} values compared`);
  return unverified;
}

async function gccAvailable(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("gcc", { args: ["--version"], stdout: "null" }).output();
    return out.success ? undefined : "gcc --version failed";
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "gcc is not installed";
    throw err;
  }
}

// Header sets are fetched before the tests are declared, so a table that cannot be checked
// here shows up as an ignored test naming it and the reason (never as a pass).
const noGcc = await gccAvailable();
const headerSets = new Map<string, HeaderSet | string>();
for (const release of RELEASES) {
  if (noGcc) {
    headerSets.set(release, noGcc);
    continue;
  }
  try {
    headerSets.set(release, await ffmpegHeaders(release));
  } catch (err) {
    if (!(err instanceof Error)) throw err;
    headerSets.set(release, err.message);
  }
}

Deno.test("every layout table has a header set that verifies it", () => {
  const releases = SUPPORTED_AVCODEC_MAJORS.map((m) => LAYOUTS[m].release).sort();
  assertEquals(releases, [...RELEASES].sort());
  assertEquals(Object.keys(LAYOUTS).map(Number).sort(), [...SUPPORTED_AVCODEC_MAJORS].sort());
});

for (const release of RELEASES) {
  const set = headerSets.get(release)!;
  const unavailable = typeof set === "string" ? set : undefined;
  const major = SUPPORTED_AVCODEC_MAJORS.find((m) => LAYOUTS[m].release === release);
  Deno.test({
    name: unavailable
      ? `layout table ${major} (FFmpeg ${release}) NOT VERIFIED: ${unavailable}`
      : `layout table ${major} (FFmpeg ${release}) matches offsetof/sizeof from its headers`,
    ignore: unavailable !== undefined && !IN_CI,
    fn: async () => {
      assert(typeof set !== "string", `FFmpeg ${release} headers are required in CI: ${set}`);
      console.log(`FFmpeg ${release}: ${set.provenance}`);
      const unverified = compare(release, await probe(set.include));
      if (unverified.length > 0) {
        console.log(
          `FFmpeg ${release}: NOT VERIFIED from headers (no libavfilter in the set): ` +
            `${unverified.join(", ")}; checked against avfilter_version() at load instead`,
        );
      }
    },
  });
}

Deno.test("the loaded FFmpeg uses the table of its own release line", () => {
  const major = Number(ffmpegVersions().avcodec.split(".")[0]);
  assertEquals(ffmpegRelease(), LAYOUTS[major].release);
});

Deno.test("versions are major.minor.micro of the loaded libraries", () => {
  const v = ffmpegVersions();
  for (
    const name of ["avformat", "avcodec", "avutil", "swscale", "swresample", "avfilter"] as const
  ) {
    assert(/^\d+\.\d+\.\d+$/.test(v[name]), v[name]);
  }
  const table = Object.values(LAYOUTS).find((t) => t.release === ffmpegRelease())!;
  assertEquals(Number(v.avutil.split(".")[0]), table.majors.avutil);
  assertEquals(Number(v.swscale.split(".")[0]), table.majors.swscale);
  assertEquals(Number(v.avfilter.split(".")[0]), table.majors.avfilter);
});

/**
 * Runs `deno <args>` in a child whose view of `hidden` files is an empty file (mount
 * namespace), with `env` added to its environment.
 */
async function runWithHiddenLibraries(
  hidden: string[],
  args: string[],
  env: Record<string, string> = {},
) {
  const dir = await Deno.makeTempDir();
  try {
    const empty = `${dir}/empty`;
    await Deno.writeFile(empty, new Uint8Array(0));
    const mounts = hidden.map((f) => `mount --bind ${empty} ${f}`).join(" && ");
    const out = await new Deno.Command("unshare", {
      args: ["-m", "sh", "-c", `${mounts} && exec "${Deno.execPath()}" "$@"`, "sh", ...args],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      success: out.success,
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Builds a stand-in `lib<name>.so.<major>` that only answers `<name>_version()` with
 * `major.minor.100`: an FFmpeg release the engine has no table for.
 */
async function fakeLibrary(dir: string, name: string, major: number, minor: number) {
  const src = `${dir}/${name}.c`;
  await Deno.writeTextFile(
    src,
    `unsigned ${name}_version(void) { return (${major}u << 16) | (${minor}u << 8) | 100u; }\n`,
  );
  const file = `lib${name}.so.${major}`;
  const cc = await new Deno.Command("gcc", {
    args: ["-shared", "-fPIC", `-Wl,-soname,${file}`, "-o", `${dir}/${file}`, src],
    stderr: "piped",
  }).output();
  assert(cc.success, new TextDecoder().decode(cc.stderr));
}

async function resolvedLibrary(soname: string): Promise<string> {
  const out = await new Deno.Command("ldconfig", { args: ["-p"], stdout: "piped" }).output();
  const line = new TextDecoder().decode(out.stdout).split("\n").find((l) =>
    l.trim().startsWith(soname + " ") && l.includes("x86-64")
  );
  assert(line, `ldconfig does not know ${soname}`);
  return await Deno.realPath(line.split("=> ")[1].trim());
}

/** Every installed library file of `name` in a supported major (a root may hold two lines). */
async function installedSupported(name: "avutil" | "avcodec"): Promise<string[]> {
  const out = await new Deno.Command("ldconfig", { args: ["-p"], stdout: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  const files: string[] = [];
  for (const major of new Set(SUPPORTED_AVCODEC_MAJORS.map((m) => LAYOUTS[m].majors[name]))) {
    if (text.includes(`lib${name}.so.${major} `)) {
      files.push(await resolvedLibrary(libraryFileNames(name, major)[0]));
    }
  }
  return files;
}

const LOAD_PROBE = `
  import { ffmpegVersions, FfmpegLoadError } from "${new URL("../ffi/mod.ts", import.meta.url)}";
  try { ffmpegVersions(); console.log("loaded"); }
  catch (e) {
    if (!(e instanceof FfmpegLoadError)) throw e;
    console.log(JSON.stringify({ library: e.library, tried: e.tried, package: e.package,
      message: e.message }));
  }`;

Deno.test("no loadable libavutil gives FfmpegLoadError naming library, files and package", async () => {
  const table = LAYOUTS[Number(ffmpegVersions().avcodec.split(".")[0])];
  const r = await runWithHiddenLibraries(await installedSupported("avutil"), ["eval", LOAD_PROBE]);
  assert(r.success, r.stderr);
  const err = JSON.parse(r.stdout);
  assertEquals(err.library, "libavutil");
  for (const t of Object.values(LAYOUTS)) {
    assert(
      err.tried.some((x: string) => x.startsWith(`libavutil.so.${t.majors.avutil}:`)),
      `tried lists libavutil.so.${t.majors.avutil}: ${err.tried}`,
    );
  }
  assert(err.package.includes(`libavutil${table.majors.avutil}`), err.package);
  assert(err.message.includes("install"), err.message);
});

Deno.test("libavutil present but libavcodec missing names libavcodec", async () => {
  const table = LAYOUTS[Number(ffmpegVersions().avcodec.split(".")[0])];
  const r = await runWithHiddenLibraries(await installedSupported("avcodec"), ["eval", LOAD_PROBE]);
  assert(r.success, r.stderr);
  const err = JSON.parse(r.stdout);
  assertEquals(err.library, "libavcodec");
  assert(err.package.includes(`libavcodec${table.majors.avcodec}`), err.package);
  assert(err.tried[0].startsWith(`libavcodec.so.${table.majors.avcodec}`), err.tried[0]);
});

const SUPPORTED_LINE = "supported: FFmpeg 5.1, 6.1, 7.1, 8.1, 9.0";

Deno.test("an FFmpeg without a verified table is refused in one line naming found and supported versions", async () => {
  const table = LAYOUTS[Number(ffmpegVersions().avcodec.split(".")[0])];
  const dir = await Deno.makeTempDir();
  try {
    // libavutil 56 (FFmpeg 4.4) instead of this host's: no table, so the line is refused.
    await fakeLibrary(dir, "avutil", 56, 70);
    const avutil = await installedSupported("avutil");
    const r = await runWithHiddenLibraries(avutil, ["eval", LOAD_PROBE], {
      RETROVUE_FFMPEG_LIB_DIR: dir,
    });
    assert(r.success, r.stderr);
    const err = JSON.parse(r.stdout);
    assertEquals(err.library, "libavutil");
    assertEquals(err.message.split("\n").length, 1, err.message);
    assert(err.message.includes(`libavutil 56.70.100 (${dir}/libavutil.so.56)`), err.message);
    assert(err.message.includes(SUPPORTED_LINE), err.message);
    assert(err.message.includes("(libavutil 61, 60, 59, 58, 57)"), err.message);

    // This host's libavutil, but a libavcodec of another major: refused, naming both.
    await fakeLibrary(dir, "avcodec", 64, 1);
    const c = await runWithHiddenLibraries(await installedSupported("avcodec"), [
      "eval",
      LOAD_PROBE,
    ], {
      RETROVUE_FFMPEG_LIB_DIR: dir,
    });
    assert(c.success, c.stderr);
    const codecErr = JSON.parse(c.stdout);
    assertEquals(codecErr.library, "libavcodec");
    assertEquals(codecErr.message.split("\n").length, 1, codecErr.message);
    assert(codecErr.message.includes("libavcodec 64.1.100"), codecErr.message);
    assert(
      codecErr.message.includes(
        `FFmpeg ${table.release} (libavutil ${table.majors.avutil}) needs libavcodec ` +
          `${table.majors.avcodec}`,
      ),
      codecErr.message,
    );
    assert(codecErr.message.includes(SUPPORTED_LINE), codecErr.message);

    // The engine refuses to start on it, with one log line, and exits 1; nothing else runs.
    const main = new URL("../src/main.ts", import.meta.url).pathname;
    const run = await runWithHiddenLibraries(
      avutil,
      ["run", "--allow-all", main, "--log-format", "json"],
      { RETROVUE_FFMPEG_LIB_DIR: dir },
    );
    assertEquals(run.code, 1, run.stdout + run.stderr);
    const lines = (run.stdout + run.stderr).trim().split("\n");
    const refused = lines.filter((l) => l.includes("ffmpeg_refused"));
    assertEquals(refused.length, 1, lines.join("\n"));
    const event = JSON.parse(refused[0]);
    assert(event.reason.includes("libavutil 56.70.100"), event.reason);
    assert(event.reason.includes(SUPPORTED_LINE), event.reason);
    assert(!lines.some((l) => l.includes("egress_url") || l.includes('"ready"')), lines.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the load-time check rejects every other release's table on the loaded libraries", () => {
  const libs = ffmpeg();
  assertEquals(checkLayout(libs), []);
  // Tables of the same layout (8.1 and 9.0 agree on every field used) are indistinguishable.
  const structs = (t: LayoutTable) => JSON.stringify({ ...t, release: "", majors: {} });
  for (const major of SUPPORTED_AVCODEC_MAJORS) {
    if (structs(LAYOUTS[major]) === structs(libs.layout)) continue;
    const mismatches = checkLayout({ ...libs, layout: LAYOUTS[major] });
    assert(mismatches.length > 0, `table ${major} passes on FFmpeg ${libs.layout.release}`);
  }
  // A field pointed at another field FFmpeg does not treat alike is caught: the 6.x table's old
  // defect (AVStream.codecpar where time_base is), and each field that has no AVOption.
  const t = libs.layout;
  for (
    const [struct, patch] of [
      ["AVStream", { codecpar: t.AVStream.time_base }],
      ["AVCodecContext", { sample_fmt: t.AVCodecContext.pix_fmt }],
      ["AVCodecContext", { initial_padding: t.AVCodecContext.width }],
      ["AVFrame", { sample_rate: t.AVFrame.width }],
      ["AVFrame", { pts: t.AVFrame.nb_samples }],
      ["AVPacket", { stream_index: t.AVPacket.size }],
      ["AVDictionaryEntry", { key: t.AVDictionaryEntry.value }],
    ] as const
  ) {
    const wrong = { ...t, [struct]: { ...t[struct], ...patch } };
    assert(
      checkLayout({ ...libs, layout: wrong }).length > 0,
      `${struct} ${JSON.stringify(patch)}`,
    );
  }
});

Deno.test("the .deb and install.sh list exactly the FFmpeg generations with verified tables", async () => {
  const generations = SUPPORTED_AVCODEC_MAJORS.map((m) => {
    const j = LAYOUTS[m].majors;
    return `libavformat${j.avformat} libavcodec${j.avcodec} libavutil${j.avutil} ` +
      `libswscale${j.swscale} libswresample${j.swresample} libavfilter${j.avfilter}`;
  });
  const script = await Deno.readTextFile(new URL("../install.sh", import.meta.url));
  const list = /^ffmpeg_generations=\(\n((?:\s+"[^"]*"\n)+)\)/m.exec(script);
  assert(list, "install.sh has no ffmpeg_generations=( ... ) list");
  assertEquals([...list[1].matchAll(/"([^"]*)"/g)].map((m) => m[1]), generations);
  // Each Depends alternative list: every verified soname of that library, nothing else.
  const libs = ["avformat", "avcodec", "avutil", "swscale", "swresample", "avfilter"];
  assertEquals(FFMPEG_DEPENDS.length, libs.length);
  for (const [i, lib] of libs.entries()) {
    const sonames = new Set(generations.map((g) => g.split(" ")[i]));
    assertEquals(new Set(FFMPEG_DEPENDS[i].split(" | ")), sonames, lib);
  }
});
