/**
 * `deno task package:windows`: the zip for Windows development boxes, built for real (Deno
 * for Windows comes from the npm package, cached under the output directory) and its contents
 * checked: exactly the expected files; a PE x86-64 `deno.exe` of the pinned version; a CRLF
 * `retrovue-playout.cmd` that runs the shipped files with the Linux package's permissions; a
 * README naming every DLL the loader looks for; an example config that is valid and that the
 * Windows checks accept as it is. The bundle itself runs `--help` and `--check-config`
 * (here on Linux's Deno: the same JavaScript the Windows runtime gets).
 */

import { assert, assertEquals } from "./assert.ts";
import { unzipSync } from "fflate";
import { buildWindowsZip, pinnedDenoVersion, windowsZipName } from "../packaging/windows_zip.ts";
import { readPackageVersion, REPO_ROOT } from "../packaging/package_metadata.ts";
import { RUNTIME_PERMISSION_FLAGS } from "../packaging/permissions.ts";
import { LAYOUTS, SUPPORTED_AVCODEC_MAJORS } from "../ffi/layout.ts";
import { LIBRARY_LOAD_ORDER } from "../ffi/library_search.ts";
import { parseConfigText } from "../src/config/mod.ts";
import { applyWindowsDefaults } from "../src/config/windows_defaults.ts";

const decoder = new TextDecoder();
/** Build output (and the npm download of deno.exe, cached) outside the work tree. */
const OUT = `${REPO_ROOT}/build/test-windows`;

Deno.test("package:windows builds the zip with the launcher, runtime, bundle, README, config", async () => {
  const version = await readPackageVersion();
  const built = await buildWindowsZip({ outDir: OUT, say: () => {} });
  assertEquals(built.zip, `${OUT}/${windowsZipName(version)}`);
  assertEquals(windowsZipName(version), `retrovue-playout_${version}_windows-x64.zip`);
  const files = unzipSync(await Deno.readFile(built.zip));
  const root = `retrovue-playout_${version}_windows-x64/`;
  assertEquals(
    Object.keys(files).sort(),
    [
      "README.txt",
      "build-info.json",
      "config.example.toml",
      "lib/deno.exe",
      "lib/retrovue_playout.js",
      "lib/workers/channel_worker.js",
      "retrovue-playout.cmd",
    ].map((f) => root + f).sort(),
  );
  const text = (f: string) => decoder.decode(files[root + f]);

  // deno.exe: a PE image for x86-64 (IMAGE_FILE_MACHINE_AMD64), the pinned version.
  const exe = files[root + "lib/deno.exe"];
  const view = new DataView(exe.buffer, exe.byteOffset, exe.byteLength);
  assertEquals(decoder.decode(exe.subarray(0, 2)), "MZ");
  const pe = view.getUint32(0x3c, true);
  assertEquals(decoder.decode(exe.subarray(pe, pe + 4)), "PE\0\0");
  assertEquals(view.getUint16(pe + 4, true), 0x8664);
  const pinned = await pinnedDenoVersion();
  assertEquals(built.denoVersion, pinned);
  assertEquals(JSON.parse(text("build-info.json")).deno_package, `@deno/win32-x64@${pinned}`);

  // The launcher: CRLF throughout, runs lib\deno.exe on the bundle with the permissions.
  const cmd = text("retrovue-playout.cmd");
  assert(cmd.split("\n").every((l, i, all) => i === all.length - 1 || l.endsWith("\r")), "CRLF");
  const run = cmd.split("\r\n").find((l) => l.startsWith('"%HERE%lib\\deno.exe" run '));
  assert(run !== undefined, cmd);
  assert(run.endsWith('"%HERE%lib\\retrovue_playout.js" %*'), run);
  for (const flag of RUNTIME_PERMISSION_FLAGS) assert(run.includes(` ${flag} `), flag);
  assert(cmd.includes('set "RETROVUE_FFMPEG_LIB_DIR=%HERE%ffmpeg\\bin"'), cmd);

  // README: every DLL of every supported FFmpeg line, where to get the builds; CRLF.
  const readme = text("README.txt");
  assert(!readme.includes("{{"), "unfilled README field");
  assert(!/[^\r]\n/.test(readme), "README line ends are CRLF");
  for (const m of SUPPORTED_AVCODEC_MAJORS) {
    for (const lib of LIBRARY_LOAD_ORDER) {
      assert(readme.includes(`${lib}-${LAYOUTS[m].majors[lib]}.dll`), `${lib} of ${m}`);
    }
    assert(readme.includes(LAYOUTS[m].release), LAYOUTS[m].release);
  }
  assert(readme.includes("gyan.dev") && readme.includes("BtbN"), "FFmpeg sources");

  // The example configuration: valid, Windows paths, nothing Windows would refuse.
  const example = text("config.example.toml");
  const config = await parseConfigText(example, { source: "config.example.toml", baseDir: "/" });
  assertEquals(config.state_dir, "C:\\ProgramData\\RetroVue\\playout\\state");
  const windows = applyWindowsDefaults(config, () => undefined);
  assertEquals(windows.problems, []);
  assertEquals(windows.config.grpc, {
    unix_socket: undefined,
    unix_socket_mode: 0o660,
    tcp: [
      "127.0.0.1:50051",
    ],
  });
  assertEquals(windows.config.channels.map((c) => c.frame_sink.tcp), ["127.0.0.1:47001"]);

  // The bundle answers --help and --check-config (the example) like the engine does.
  const dir = await Deno.makeTempDir({ prefix: "packaging_windows_test_" });
  try {
    await Deno.mkdir(`${dir}/lib/workers`, { recursive: true });
    for (const f of ["lib/retrovue_playout.js", "lib/workers/channel_worker.js"]) {
      await Deno.writeFile(`${dir}/${f}`, files[root + f]);
    }
    await Deno.writeTextFile(`${dir}/config.toml`, example);
    const bundle = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-config",
          "--no-lock",
          ...RUNTIME_PERMISSION_FLAGS,
          `${dir}/lib/retrovue_playout.js`,
          ...args,
        ],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
    const help = await bundle(["--help"]);
    assertEquals(help.code, 0, decoder.decode(help.stderr));
    assert(decoder.decode(help.stdout).includes("--check-config"), "usage text");
    const check = await bundle(["--check-config", "config.toml"]);
    assertEquals(check.code, 0, decoder.decode(check.stderr));
    assertEquals(decoder.decode(check.stdout).trim(), "config.toml: ok (1 channel)");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
