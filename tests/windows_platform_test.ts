/**
 * The Windows code paths, run here on Linux with a simulated platform (the OS, environment
 * and executable path are injected): where the FFmpeg DLLs are looked for and what the loader
 * says when it finds none, the Windows stand-ins for the Linux-only config defaults, the stop
 * signals, and the parent-process poll.
 */

import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { FfmpegLoadError } from "../ffi/errors.ts";
import { LAYOUTS, SUPPORTED_AVCODEC_MAJORS } from "../ffi/layout.ts";
import { openFfmpegLibraries } from "../ffi/library.ts";
import {
  LIBRARY_LOAD_ORDER,
  type LibraryHost,
  librarySearchPaths,
  packageHint,
  windowsAvfilterDependencyPaths,
} from "../ffi/library_search.ts";
import { watchProcess, WindowsProcessError } from "../ffi/windows_process.ts";
import { ConfigError, EMBEDDED_DEFAULT_CONFIG, parseConfigText } from "../src/config/mod.ts";
import { resolveRuntimePaths } from "../src/config/runtime_paths.ts";
import { applyWindowsDefaults } from "../src/config/windows_defaults.ts";
import { hostSignals } from "../src/host_signals.ts";
import { type ParentProbe, pollParent } from "../src/parent_poll.ts";
import { watchParent } from "../src/parent_watch.ts";
import { Logger } from "../src/log/log.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

function windowsHost(vars: Record<string, string>): LibraryHost {
  return { os: "windows", env: envOf(vars), execPath: "C:\\rv\\lib\\deno.exe" };
}

/** DLL names of FFmpeg's Windows shared builds, per release line (from those builds). */
const WINDOWS_DLLS: Record<string, string[]> = {
  "5.1": ["avutil-57", "swresample-4", "swscale-6", "avcodec-59", "avformat-59", "avfilter-8"],
  "6.1": ["avutil-58", "swresample-4", "swscale-7", "avcodec-60", "avformat-60", "avfilter-9"],
  "7.1": ["avutil-59", "swresample-5", "swscale-8", "avcodec-61", "avformat-61", "avfilter-10"],
  "8.1": ["avutil-60", "swresample-6", "swscale-9", "avcodec-62", "avformat-62", "avfilter-11"],
};

Deno.test("windows: libavfilter's postproc DLL of 5.1-7.1 is looked for like the others", () => {
  const host = windowsHost({ RETROVUE_FFMPEG_LIB_DIR: "D:\\ffmpeg\\bin", PATH: "C:\\bin" });
  assertEquals(windowsAvfilterDependencyPaths("7.1", host), [
    "D:\\ffmpeg\\bin\\postproc-58.dll",
    "C:\\rv\\lib\\postproc-58.dll",
    "C:\\bin\\postproc-58.dll",
    "postproc-58.dll",
  ]);
  assertEquals(windowsAvfilterDependencyPaths("5.1", host).at(-1), "postproc-56.dll");
  assertEquals(windowsAvfilterDependencyPaths("8.1", host), []);
  assertEquals(windowsAvfilterDependencyPaths("7.1", { ...host, os: "linux" }), []);
});

Deno.test("windows: DLL names per supported FFmpeg line; search order dir, exe, PATH, loader", () => {
  for (const [release, dlls] of Object.entries(WINDOWS_DLLS)) {
    const table = Object.values(LAYOUTS).find((t) => t.release === release);
    assert(table !== undefined, `FFmpeg ${release} is supported`);
    const host = windowsHost({});
    const names = LIBRARY_LOAD_ORDER.map((lib) =>
      librarySearchPaths(lib, table.majors[lib], host).at(-1)
    );
    assertEquals(names, dlls.map((d) => `${d}.dll`));
  }
  const host = windowsHost({
    RETROVUE_FFMPEG_LIB_DIR: "D:\\ffmpeg\\bin\\",
    PATH:
      'C:\\Windows\\system32;"C:\\Program Files\\FFmpeg\\bin";;C:\\rv\\lib;c:\\windows\\System32',
  });
  assertEquals(librarySearchPaths("avformat", 61, host), [
    "D:\\ffmpeg\\bin\\avformat-61.dll",
    "C:\\rv\\lib\\avformat-61.dll",
    "C:\\Windows\\system32\\avformat-61.dll",
    "C:\\Program Files\\FFmpeg\\bin\\avformat-61.dll",
    "avformat-61.dll",
  ]);
  // Linux keeps the soname search, after the configured directory.
  const linux: LibraryHost = {
    os: "linux",
    env: envOf({ RETROVUE_FFMPEG_LIB_DIR: "/opt/ffmpeg/lib" }),
    execPath: "/usr/bin/deno",
  };
  assertEquals(librarySearchPaths("avutil", 59, linux), [
    "/opt/ffmpeg/lib/libavutil.so.59",
    "libavutil.so.59",
  ]);
  // Every supported major is named in the hint, and where to get the builds.
  const hint = packageHint("avutil", "windows");
  for (const m of SUPPORTED_AVCODEC_MAJORS) {
    assert(hint.includes(`avutil-${LAYOUTS[m].majors.avutil}.dll`), hint);
  }
  assert(hint.includes("gyan.dev") && hint.includes("BtbN"), hint);
});

Deno.test("windows: with no DLLs the loader's error lists every path it tried", () => {
  const host = windowsHost({
    RETROVUE_FFMPEG_LIB_DIR: "Q:\\nowhere",
    PATH: "C:\\Windows\\system32;C:\\tools",
  });
  const err = assertThrows(() => openFfmpegLibraries(host), FfmpegLoadError);
  assertEquals(err.library, "libavutil");
  const expected = SUPPORTED_AVCODEC_MAJORS.flatMap((m) =>
    librarySearchPaths("avutil", LAYOUTS[m].majors.avutil, host)
  );
  assertEquals(err.tried.map((t: string) => t.slice(0, t.indexOf(": "))), expected);
  for (const path of expected) assert(err.message.includes(path), `${path} in ${err.message}`);
  assert(err.message.includes("Q:\\nowhere\\avutil-59.dll"), err.message);
  assert(err.message.includes("shared build"), err.message);
});

Deno.test("windows: gRPC and frame sinks on TCP, state under %ProgramData%, one pipe notice", () => {
  const env = envOf({ ProgramData: "D:\\PD" });
  const out = applyWindowsDefaults(EMBEDDED_DEFAULT_CONFIG, env);
  assertEquals(out.problems, []);
  assertEquals(out.config.grpc.unix_socket, undefined);
  assertEquals(out.config.grpc.tcp, ["127.0.0.1:50051"]);
  assertEquals(out.config.state_dir, "D:\\PD\\RetroVue\\playout\\state");
  assertEquals(out.config.channels[0].frame_sink, {
    enabled: true,
    unix: undefined,
    tcp: "127.0.0.1:47001",
  });
  assertEquals(out.pipeFallbacks, [
    { channel: 1, pipe: "\\\\.\\pipe\\retrovue-playout-1", tcp: "127.0.0.1:47001" },
  ]);
  assertEquals(out.choices.map((c) => c.setting), [
    "grpc.tcp",
    "state_dir",
    "channels[0].frame_sink.tcp",
  ]);
  // Without ProgramData in the environment: the usual place.
  assertEquals(
    applyWindowsDefaults(EMBEDDED_DEFAULT_CONFIG, envOf({})).config.state_dir,
    "C:\\ProgramData\\RetroVue\\playout\\state",
  );
});

Deno.test("windows: settings spelled out are kept; Unix paths and port clashes are problems", async () => {
  const config = await parseConfigText(
    `
state_dir = 'E:\\rv\\state'
[grpc]
unix_socket = "/run/x.sock"
tcp = ["127.0.0.1:50051"]
[[channels]]
id = 2
frame_sink = { tcp = "127.0.0.1:9999" }
[[channels]]
id = 3
frame_sink = { unix = "/tmp/sink-3" }
[[channels]]
id = 3051
[[channels]]
id = 18536
[[channels]]
id = 5
frame_sink = { enabled = false }
`,
    { source: "test", baseDir: "/" },
  );
  const out = applyWindowsDefaults(config, envOf({}));
  assertEquals(out.config.state_dir, "E:\\rv\\state");
  assertEquals(out.config.channels[0].frame_sink.tcp, "127.0.0.1:9999");
  assertEquals(out.problems.map((p) => p.path), [
    "grpc.unix_socket",
    "channels[1].frame_sink.unix",
    "channels[2].frame_sink.tcp",
    "channels[3].frame_sink.tcp",
  ]);
  assert(
    out.problems[2].message.includes("127.0.0.1:50051") &&
      out.problems[2].message.includes("grpc.tcp[0]"),
    out.problems[2].message,
  );
  assert(out.problems[3].message.includes("over 65535"), out.problems[3].message);
  // The same problems refuse the configuration at start.
  await assertRejects(
    () => resolveRuntimePaths(config, { os: "windows", env: envOf({}), source: "test" }),
    ConfigError,
    "grpc.unix_socket",
  );
});

Deno.test("windows: a state directory that is not writable falls back to %LOCALAPPDATA%", async () => {
  const probed: string[] = [];
  const out = await resolveRuntimePaths(EMBEDDED_DEFAULT_CONFIG, {
    os: "windows",
    env: envOf({ ProgramData: "C:\\ProgramData", LOCALAPPDATA: "C:\\Users\\dev\\AppData\\Local" }),
    probeDir: (dir) => {
      probed.push(dir);
      return Promise.resolve(dir.startsWith("C:\\ProgramData") ? "access denied" : undefined);
    },
  });
  assertEquals(out.config.state_dir, "C:\\Users\\dev\\AppData\\Local\\RetroVue\\playout\\state");
  assertEquals(probed, [
    "C:\\ProgramData\\RetroVue\\playout\\state",
    "C:\\Users\\dev\\AppData\\Local\\RetroVue\\playout\\state",
  ]);
  const state = out.choices.filter((c) => c.setting === "state_dir").at(-1)!;
  assertEquals([state.fallbackFrom, state.reason], [
    "C:\\ProgramData\\RetroVue\\playout\\state",
    "access denied",
  ]);
  assertEquals(out.pipeFallbacks.length, 1);
});

Deno.test("windows: Ctrl+C and Ctrl+Break stop the engine; SIGHUP reload is Linux only", () => {
  assertEquals(hostSignals("windows"), { stop: ["SIGINT", "SIGBREAK"], reload: [] });
  assertEquals(hostSignals("linux"), { stop: ["SIGTERM", "SIGINT"], reload: ["SIGHUP"] });
});

/** A parent that exits after `checks` probes. */
class FakeParent implements ParentProbe {
  readonly pid = 4242;
  probes = 0;
  closed = false;
  constructor(readonly checks: number) {}
  exited(): boolean {
    return ++this.probes > this.checks;
  }
  close(): void {
    this.closed = true;
  }
}

Deno.test("windows: a Core-spawned engine polls its parent and stops once when it is gone", async () => {
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({ level: "debug", write: (l) => lines.push(JSON.parse(l)) });
  const parent = new FakeParent(3);
  const exits: number[] = [];
  const gone = new Promise<void>((resolve) => {
    pollParent(log, () => parent, (pid) => {
      exits.push(pid);
      resolve();
    }, 2);
  });
  // The poll's timer is unref'd (it never keeps the engine alive): hold the loop open here.
  const keepAlive = setInterval(() => {}, 1000);
  await gone.finally(() => clearInterval(keepAlive));
  assertEquals(exits, [4242]);
  assertEquals(parent.probes, 4); // once at start, then until it reported the exit
  assert(parent.closed, "the handle on the parent is released");
  assertEquals(lines.map((l) => l.event), ["parent_watch_started", "parent_exited"]);

  // Stopped first (engine shutting down): no exit reported, handle released.
  const alive = new FakeParent(Infinity);
  const poll = pollParent(log, () => alive, () => exits.push(-1), 2)!;
  poll.stop();
  assert(alive.closed);
  assertEquals(exits, [4242]);

  // No probe to be had (here: kernel32 on Linux): logged, no poll.
  const before = lines.length;
  assertEquals(pollParent(log, () => watchProcess(1), () => exits.push(-2), 2), undefined);
  assertEquals(lines.slice(before).map((l) => [l.event, l.level]), [
    ["parent_watch_unavailable", "warn"],
  ]);
  assertThrows(() => watchProcess(1), WindowsProcessError, "kernel32");

  // The platform seam: on Windows the parent watch is this poll (here it cannot open kernel32).
  const seam = lines.length;
  assertEquals(watchParent(log, () => exits.push(-3), "windows"), undefined);
  assertEquals(lines.slice(seam).map((l) => String(l.reason)), [
    "dlopen kernel32.dll: not on Windows (linux)",
  ]);
});
