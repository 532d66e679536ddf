/**
 * Layout tables vs the real headers: compiles tests/probe/layout_probe.c with gcc against the
 * installed libav*-dev headers (and, when FFMPEG71_INCLUDE points at FFmpeg 7.1's headers,
 * against those too) and compares every offset and size with ffi/layout.ts.
 */
import { assert, assertEquals } from "./assert.ts";
import { LAYOUTS } from "../ffi/layout.ts";
import { ffmpegRelease, ffmpegVersions } from "../ffi/mod.ts";
import { libraryFileNames } from "../ffi/library.ts";

const PROBE = new URL("./probe/layout_probe.c", import.meta.url).pathname;

async function probe(includeDir?: string): Promise<Map<string, number>> {
  const dir = await Deno.makeTempDir();
  try {
    const exe = `${dir}/probe`;
    const args = [...(includeDir ? ["-I", includeDir] : []), "-o", exe, PROBE];
    const cc = await new Deno.Command("gcc", { args, stderr: "piped" }).output();
    assert(cc.success, `gcc failed: ${new TextDecoder().decode(cc.stderr)}`);
    const run = await new Deno.Command(exe, { stdout: "piped" }).output();
    assert(run.success, "probe failed");
    const values = new Map<string, number>();
    for (const line of new TextDecoder().decode(run.stdout).trim().split("\n")) {
      const [key, value] = line.split(" ");
      if (key === "version") {
        values.set("avcodec_major", Number(/avcodec=(\d+)/.exec(line)![1]));
        continue;
      }
      values.set(key.includes(".") ? key : `${key}.sizeof`, Number(value));
    }
    return values;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function compare(values: Map<string, number>): void {
  const major = values.get("avcodec_major")!;
  const table = LAYOUTS[major];
  assert(table !== undefined, `no layout table for avcodec ${major}`);
  let checked = 0;
  for (const [key, value] of values) {
    if (key === "avcodec_major") continue;
    const [struct, field] = key.split(".");
    const layout = (table as unknown as Record<string, Record<string, number>>)[struct];
    assert(layout !== undefined, `table ${major} has no ${struct}`);
    assertEquals(layout[field], value, `${major}: ${key}`);
    checked++;
  }
  // Every field of the table is printed by the probe (no unchecked entries).
  for (const [struct, fields] of Object.entries(table)) {
    if (typeof fields !== "object" || struct === "majors") continue;
    for (const field of Object.keys(fields)) {
      assert(values.has(`${struct}.${field}`), `probe does not print ${struct}.${field}`);
    }
  }
  assert(checked > 80, `only ${checked} values compared`);
}

Deno.test("layout tables match offsetof/sizeof from the installed (and FFmpeg 7.1) headers", async () => {
  const values = await probe();
  const major = values.get("avcodec_major")!;
  assertEquals(Number(ffmpegVersions().avcodec.split(".")[0]), major);
  assertEquals(ffmpegRelease(), LAYOUTS[major].release);
  compare(values);
  // FFmpeg 7.1's -dev headers unpacked somewhere (see ffi/README.md) check table 61 too.
  const include71 = Deno.env.get("FFMPEG71_INCLUDE");
  if (include71) {
    const values71 = await probe(include71);
    assertEquals(values71.get("avcodec_major"), 61);
    compare(values71);
  } else {
    console.log("FFMPEG71_INCLUDE not set: table 61 not re-checked in this run");
  }
});

Deno.test("versions are major.minor.micro of the loaded libraries", () => {
  const v = ffmpegVersions();
  for (const name of ["avformat", "avcodec", "avutil", "swscale", "swresample"] as const) {
    assert(/^\d+\.\d+\.\d+$/.test(v[name]), v[name]);
  }
  const table = Object.values(LAYOUTS).find((t) => t.release === ffmpegRelease())!;
  assertEquals(Number(v.avutil.split(".")[0]), table.majors.avutil);
  assertEquals(Number(v.swscale.split(".")[0]), table.majors.swscale);
});

/** Runs `code` in a child Deno whose view of `hidden` files is an empty file (mount namespace). */
async function runWithHiddenLibraries(hidden: string[], code: string) {
  const dir = await Deno.makeTempDir();
  try {
    const empty = `${dir}/empty`;
    await Deno.writeFile(empty, new Uint8Array(0));
    const mounts = hidden.map((f) => `mount --bind ${empty} ${f}`).join(" && ");
    const out = await new Deno.Command("unshare", {
      args: ["-m", "sh", "-c", `${mounts} && exec "${Deno.execPath()}" eval "$0"`, code],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      success: out.success,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function resolvedLibrary(soname: string): Promise<string> {
  const out = await new Deno.Command("ldconfig", { args: ["-p"], stdout: "piped" }).output();
  const line = new TextDecoder().decode(out.stdout).split("\n").find((l) =>
    l.trim().startsWith(soname + " ") && l.includes("x86-64")
  );
  assert(line, `ldconfig does not know ${soname}`);
  return await Deno.realPath(line.split("=> ")[1].trim());
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
  const lib = await resolvedLibrary(libraryFileNames("avutil", table.majors.avutil)[0]);
  const r = await runWithHiddenLibraries([lib], LOAD_PROBE);
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
  const lib = await resolvedLibrary(libraryFileNames("avcodec", table.majors.avcodec)[0]);
  const r = await runWithHiddenLibraries([lib], LOAD_PROBE);
  assert(r.success, r.stderr);
  const err = JSON.parse(r.stdout);
  assertEquals(err.library, "libavcodec");
  assert(err.package.includes(`libavcodec${table.majors.avcodec}`), err.package);
  assert(err.tried[0].startsWith(`libavcodec.so.${table.majors.avcodec}`), err.tried[0]);
});
