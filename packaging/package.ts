/**
 * `deno task package`: builds `build/retrovue-playout_<version>_<arch>.deb` with dpkg-deb.
 *
 * The engine goes to /opt/retrovue-playout as the self-contained executable from
 * `deno compile` where denort can be had, else as the runtime+bundle layout (pinned Deno
 * runtime, bundled program, launcher); both give /opt/retrovue-playout/bin/retrovue_playout,
 * linked as /usr/bin/retrovue-playout and /usr/bin/retrovue_playout. The build says which
 * layout it made (and /opt/retrovue-playout/build-info.json records it).
 *
 * Usage: `deno task package [--entry src/main.ts] [--layout auto|compiled|bundle]
 *         [--compression xz|gzip] [--compression-level 0-9] [--out-dir build]`
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { buildBundleLayout } from "./bundle_layout.ts";
import { compileExecutable } from "./compile.ts";
import { renderCopyright } from "./copyright.ts";
import {
  buildDebArchive,
  type DebCompression,
  DEFAULT_DEB_COMPRESSION,
  installedSizeKiB,
  renderControl,
  renderMd5sums,
} from "./deb_archive.ts";
import { renderChangelog } from "./debian_changelog.ts";
import { CommandFailedError, runCommand } from "./command.ts";
import {
  COMMAND_NAME,
  CONFIG_PATH,
  debFileName,
  debianArchitecture,
  FFMPEG_DEPENDS,
  INSTALL_PREFIX,
  maintainer,
  PACKAGE_NAME,
  readPackageVersion,
  REPO_ROOT,
  SCRIPT_DEPENDS,
} from "./package_metadata.ts";
import { versionProblem } from "./version_check.ts";
import { findWorkerEntries } from "./worker_entries.ts";
import { readProgramGraph } from "./program_graph.ts";
import { libcDependency } from "./elf_glibc.ts";

/** Which layout to build. */
export type LayoutChoice = "auto" | "compiled" | "bundle";

/** Options of {@linkcode buildPackage}. */
export interface PackageOptions {
  /** The program's entry module (default src/main.ts). */
  entry?: string;
  /** Layout: `auto` compiles where denort is available, else bundles. */
  layout?: LayoutChoice;
  /** Compression of the .deb's members (default xz level 1). */
  compression?: DebCompression;
  /** Output directory (default build/). */
  outDir?: string;
  /** Progress lines (default: console.log). */
  say?: (line: string) => void;
}

/** What was built. */
export interface BuiltPackage {
  deb: string;
  version: string;
  architecture: string;
  layout: "compiled" | "runtime+bundle";
  /** Why `deno compile` was not used, for the runtime+bundle layout. */
  fallbackReason?: string;
}

/** Asked for the compiled layout, but there is no denort. */
export class CompiledLayoutUnavailableError extends Error {
  override name = "CompiledLayoutUnavailableError";
  constructor(readonly reason: string) {
    super(`--layout compiled: ${reason}`);
  }
}

/** The built command does not run the program (`--version` check). */
export class BrokenCommandError extends Error {
  override name = "BrokenCommandError";
  constructor(readonly value: string, readonly problem: string) {
    super(`the built command ${value} does not work: ${problem}`);
  }
}

/** packaging/config.toml, the conffile's source, is missing. */
export class MissingConfigError extends Error {
  override name = "MissingConfigError";
  constructor(readonly value: string) {
    super(`no configuration to ship: ${value} is missing`);
  }
}

const PACKAGING_DIR = join(REPO_ROOT, "packaging");
const UNIT_NAME = "retrovue-playout.service";
/** The nightly `state export` (service + timer). */
export const BACKUP_UNIT_NAMES = [
  "retrovue-playout-backup.service",
  "retrovue-playout-backup.timer",
] as const;

/** Builds the .deb. */
export async function buildPackage(opts: PackageOptions = {}): Promise<BuiltPackage> {
  const say = opts.say ?? ((line: string) => console.log(line));
  const version = await readPackageVersion();
  const arch = debianArchitecture();
  const entry = resolve(REPO_ROOT, opts.entry ?? "src/main.ts");
  const outDir = resolve(REPO_ROOT, opts.outDir ?? "build");
  const stage = join(outDir, `stage-${PACKAGE_NAME}`);
  await Deno.remove(stage, { recursive: true }).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  const prefix = join(stage, INSTALL_PREFIX);
  await Deno.mkdir(join(prefix, "bin"), { recursive: true });

  // 1. The engine: compiled executable, else runtime + bundle.
  let layout: BuiltPackage["layout"];
  let fallbackReason: string | undefined;
  const command = join(prefix, "bin", COMMAND_NAME);
  const choice = opts.layout ?? "auto";
  const compiled = choice === "bundle"
    ? { ok: false as const, reason: "--layout bundle asked for" }
    : await compileExecutable({ entry, output: command, version });
  if (compiled.ok) {
    layout = "compiled";
    say(`package: layout compiled (self-contained executable; denort ${compiled.denortSource})`);
  } else {
    if (choice === "compiled") throw new CompiledLayoutUnavailableError(compiled.reason);
    fallbackReason = compiled.reason;
    say(`package: no compiled executable: ${compiled.reason}`);
    const built = await buildBundleLayout({ entry, prefix });
    layout = "runtime+bundle";
    for (const stray of built.strayModuleUrls) {
      say(
        `package: WARNING: the bundle refers to a file next to its source, not shipped: ${stray}`,
      );
    }
    say(
      `package: layout runtime+bundle (Deno ${Deno.version.deno} runtime from ` +
        `${Deno.execPath()}, ${built.workers.length} worker bundle(s), launcher script)`,
    );
  }
  const problem = await versionProblem(command, version);
  if (problem) throw new BrokenCommandError(command, problem);
  await Deno.writeTextFile(
    join(prefix, "build-info.json"),
    JSON.stringify(
      { version, layout, deno: Deno.version.deno, fallback_reason: fallbackReason },
      null,
      2,
    ) + "\n",
  );

  // 2. Links, conffile, unit, docs.
  await Deno.mkdir(join(stage, "usr/bin"), { recursive: true });
  for (const name of [PACKAGE_NAME, COMMAND_NAME]) {
    await Deno.symlink(`${INSTALL_PREFIX}/bin/${COMMAND_NAME}`, join(stage, "usr/bin", name));
  }
  await copyInto(await configSource(), join(stage, CONFIG_PATH));
  for (const unit of [UNIT_NAME, ...BACKUP_UNIT_NAMES]) {
    await copyInto(join(PACKAGING_DIR, unit), join(stage, "lib/systemd/system", unit));
  }
  const man = join(stage, "usr/share/man/man1");
  await writeInto(
    join(man, `${PACKAGE_NAME}.1.gz`),
    gzipSync(await Deno.readFile(join(PACKAGING_DIR, `${PACKAGE_NAME}.1`)), { level: 9 }),
  );
  await Deno.symlink(`${PACKAGE_NAME}.1.gz`, join(man, `${COMMAND_NAME}.1.gz`));
  const doc = join(stage, "usr/share/doc", PACKAGE_NAME);
  const who = maintainer();
  await writeInto(
    join(doc, "changelog.gz"),
    gzipSync(
      new TextEncoder().encode(renderChangelog({
        package: PACKAGE_NAME,
        version,
        maintainer: who,
        date: await releaseDate(),
        changes: [`Release ${version}.`],
      })),
      { level: 9 },
    ),
  );
  const workerEntries = [...new Set((await findWorkerEntries(entry)).map((w) => w.entryFile))];
  const graph = await readProgramGraph([entry, ...workerEntries]);
  await writeInto(
    join(doc, "copyright"),
    await renderCopyright({
      packages: graph.npmPackages,
      programFiles: layout === "compiled"
        ? `${INSTALL_PREFIX.slice(1)}/bin/${COMMAND_NAME}`
        : `${INSTALL_PREFIX.slice(1)}/lib/*`,
      runtime: {
        files: layout === "compiled"
          ? `${INSTALL_PREFIX.slice(1)}/bin/${COMMAND_NAME}`
          : `${INSTALL_PREFIX.slice(1)}/lib/deno`,
        licenseText: await denoLicense(),
      },
    }),
  );
  await copyInto(
    join(PACKAGING_DIR, "lintian-overrides"),
    join(stage, "usr/share/lintian/overrides", PACKAGE_NAME),
  );

  // 3. DEBIAN/.
  const debian = join(stage, "DEBIAN");
  await Deno.mkdir(debian);
  for (const script of ["postinst", "prerm", "postrm"]) {
    await Deno.copyFile(join(PACKAGING_DIR, "debian", script), join(debian, script));
  }
  await Deno.writeTextFile(join(debian, "conffiles"), `${CONFIG_PATH}\n`);
  await normalizeModes(stage);
  await Deno.writeTextFile(join(debian, "md5sums"), await renderMd5sums(stage));
  await Deno.chmod(join(debian, "md5sums"), 0o644);
  await Deno.writeTextFile(
    join(debian, "control"),
    renderControl({
      package: PACKAGE_NAME,
      version,
      architecture: arch,
      maintainer: who,
      installedSizeKiB: await installedSizeKiB(stage),
      depends: [
        ...FFMPEG_DEPENDS,
        await libcDependency(layout === "compiled" ? command : join(prefix, "lib/deno")),
        "libgcc-s1",
        ...SCRIPT_DEPENDS,
      ],
      section: "video",
      priority: "optional",
      description: `24/7 linear-TV playout engine
retrovue-playout plays channels around the clock: it decodes media with
the system's FFmpeg libraries, builds frame-exact program timelines,
encodes MPEG transport streams and serves them over HTTP. RetroVue Core
controls it over gRPC; Prometheus scrapes its metrics.
The package installs the retrovue-playout systemd service, which runs as
the system user retrovue in a sandbox.`,
    }),
  );
  await Deno.chmod(join(debian, "control"), 0o644);

  // 4. The archive.
  const deb = join(outDir, debFileName(version, arch));
  await buildDebArchive(stage, deb, opts.compression ?? DEFAULT_DEB_COMPRESSION);
  await Deno.remove(stage, { recursive: true });
  const size = (await Deno.stat(deb)).size;
  say(`package: wrote ${deb} (${(size / 2 ** 20).toFixed(1)} MiB, layout ${layout})`);
  return { deb, version, architecture: arch, layout, fallbackReason };
}

/** packaging/config.toml (the config engineer's commented example). */
async function configSource(): Promise<string> {
  const file = join(PACKAGING_DIR, "config.toml");
  if (!(await exists(file))) throw new MissingConfigError(file);
  return file;
}

/** SOURCE_DATE_EPOCH, else the last commit's time, else now. */
/** SOURCE_DATE_EPOCH, else the last commit's time, else now (reproducible builds). */
export async function releaseDate(): Promise<Date> {
  const epoch = Deno.env.get("SOURCE_DATE_EPOCH");
  if (epoch && /^\d+$/.test(epoch)) return new Date(Number(epoch) * 1000);
  try {
    const { stdout } = await runCommand(["git", "log", "-1", "--format=%ct"], { cwd: REPO_ROOT });
    if (/^\d+\s*$/.test(stdout)) return new Date(Number(stdout.trim()) * 1000);
  } catch (err) {
    if (!(err instanceof CommandFailedError || err instanceof Deno.errors.NotFound)) throw err;
  }
  return new Date();
}

/** Deno's LICENSE, from the npm package that installed the pinned runtime. */
async function denoLicense(): Promise<string> {
  const candidates = [
    join(dirname(Deno.execPath()), "../../deno/LICENSE"),
    join(dirname(Deno.execPath()), "LICENSE"),
    join(dirname(Deno.execPath()), "LICENSE.md"),
  ];
  for (const file of candidates) {
    if (await exists(file)) return await Deno.readTextFile(file);
  }
  return "The MIT License applies to Deno; see https://github.com/denoland/deno/blob/main/LICENSE.md";
}

/** Directories 0755; executables (bin/, lib/deno, maintainer scripts) 0755; the rest 0644. */
async function normalizeModes(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isSymlink) continue;
    if (e.isDirectory) {
      await Deno.chmod(path, 0o755);
      await normalizeModes(path);
    } else {
      const executable = /\/(bin\/[^/]+|lib\/deno|DEBIAN\/(postinst|prerm|postrm))$/.test(path);
      await Deno.chmod(path, executable ? 0o755 : 0o644);
    }
  }
}

async function copyInto(from: string, to: string): Promise<void> {
  await Deno.mkdir(dirname(to), { recursive: true });
  await Deno.copyFile(from, to);
}

async function writeInto(to: string, data: Uint8Array | string): Promise<void> {
  await Deno.mkdir(dirname(to), { recursive: true });
  if (typeof data === "string") await Deno.writeTextFile(to, data);
  else await Deno.writeFile(to, data);
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

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      entry: { type: "string", default: "src/main.ts" },
      layout: { type: "string", default: "auto" },
      compression: { type: "string", default: DEFAULT_DEB_COMPRESSION.type },
      "compression-level": { type: "string", default: String(DEFAULT_DEB_COMPRESSION.level) },
      "out-dir": { type: "string", default: "build" },
    },
  });
  if (!["auto", "compiled", "bundle"].includes(values.layout)) {
    console.error(`package: --layout must be auto, compiled or bundle, got ${values.layout}`);
    Deno.exit(2);
  }
  if (!["xz", "gzip"].includes(values.compression)) {
    console.error(`package: --compression must be xz or gzip, got ${values.compression}`);
    Deno.exit(2);
  }
  if (!/^[0-9]$/.test(values["compression-level"])) {
    console.error(`package: --compression-level must be 0..9, got ${values["compression-level"]}`);
    Deno.exit(2);
  }
  try {
    await buildPackage({
      entry: values.entry,
      layout: values.layout as LayoutChoice,
      compression: {
        type: values.compression as DebCompression["type"],
        level: Number(values["compression-level"]),
      },
      outDir: values["out-dir"],
    });
  } catch (err) {
    // Known build failures get one clear message instead of a stack trace.
    if (!(err instanceof Error) || err.name === "Error" || err.name === "TypeError") throw err;
    console.error(`package: ${err.name}: ${err.message}`);
    Deno.exit(1);
  }
}
