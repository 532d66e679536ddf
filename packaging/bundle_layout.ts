/**
 * The runtime+bundle layout, used where `deno compile` cannot get denort: the pinned Deno
 * runtime (the one running this build), the program as one `deno bundle --platform=deno`
 * file plus one bundle per worker module, and a launcher script with the compiled
 * executable's permissions. Gives the same `bin/retrovue_playout` command as the compiled
 * layout.
 *
 * ```
 * <prefix>/bin/retrovue_playout        launcher (sh)
 * <prefix>/lib/deno                    Deno runtime
 * <prefix>/lib/retrovue_playout.js     the program
 * <prefix>/lib/workers/<name>.js       worker modules
 * ```
 *
 * @module
 */

import { runCommand } from "./command.ts";
import { renderLauncher } from "./launcher.ts";
import { COMMAND_NAME, REPO_ROOT } from "./package_metadata.ts";
import { RUNTIME_PERMISSION_FLAGS } from "./permissions.ts";
import {
  findWorkerEntries,
  moduleUrlLiterals,
  rewriteWorkerUrls,
  workerBundleNames,
} from "./worker_entries.ts";

/** Options of {@linkcode buildBundleLayout}. */
export interface BundleLayoutOptions {
  /** The program's entry module. */
  entry: string;
  /** The install prefix inside the staging tree (e.g. `<stage>/opt/retrovue-playout`). */
  prefix: string;
  /** The Deno runtime to ship (default: the one running this build). */
  runtime?: string;
}

/** What went into the layout. */
export interface BundleLayout {
  /** The launcher, `<prefix>/bin/retrovue_playout`. */
  command: string;
  /** The shipped runtime's path in the layout. */
  runtime: string;
  /** The program bundle. */
  bundle: string;
  /** Worker bundles. */
  workers: string[];
  /**
   * Module-relative URLs (`new URL("./x", import.meta.url)`) left in the bundles that do not
   * name a worker bundle: files the program expects next to its sources, which are not there.
   */
  strayModuleUrls: string[];
}

/** The program bundled into one directory: what {@link bundleProgram} wrote. */
export interface ProgramBundle {
  /** The program bundle, `<lib>/retrovue_playout.js`. */
  bundle: string;
  /** Worker bundles, `<lib>/workers/<name>.js`. */
  workers: string[];
  /** See {@link BundleLayout.strayModuleUrls}. */
  strayModuleUrls: string[];
}

/**
 * Bundles `entry` to `<lib>/retrovue_playout.js` and each worker module to
 * `<lib>/workers/<name>.js`, the program's worker URLs rewritten to those files. Shared by
 * the Linux layout and the Windows zip.
 */
export async function bundleProgram(entry: string, lib: string): Promise<ProgramBundle> {
  await Deno.mkdir(`${lib}/workers`, { recursive: true });
  const bundle = `${lib}/${COMMAND_NAME}.js`;
  await bundleModule(entry, bundle);
  const entries = await findWorkerEntries(entry);
  const names = workerBundleNames(entries);
  const bundleOf = (entryFile: string) => `${lib}/workers/${names.get(entryFile)}`;
  const workers: string[] = [];
  for (const entryFile of names.keys()) {
    await bundleModule(entryFile, bundleOf(entryFile));
    workers.push(bundleOf(entryFile));
  }
  const workerNames = new Set(names.values());
  const strayModuleUrls: string[] = [];
  for (const file of [bundle, ...workers]) {
    const text = rewriteWorkerUrls(await Deno.readTextFile(file), file, entries, bundleOf);
    await Deno.writeTextFile(file, text);
    for (const url of moduleUrlLiterals(text)) {
      if (!workerNames.has(url.split("/").pop()!)) strayModuleUrls.push(`${file}: ${url}`);
    }
  }
  if (workers.length === 0) await Deno.remove(`${lib}/workers`);
  return { bundle, workers, strayModuleUrls };
}

/** Builds the layout under `opts.prefix`. */
export async function buildBundleLayout(opts: BundleLayoutOptions): Promise<BundleLayout> {
  const lib = `${opts.prefix}/lib`;
  const bin = `${opts.prefix}/bin`;
  await Deno.mkdir(bin, { recursive: true });
  const { bundle, workers, strayModuleUrls } = await bundleProgram(opts.entry, lib);

  const runtime = `${lib}/deno`;
  await Deno.copyFile(opts.runtime ?? Deno.execPath(), runtime);
  await Deno.chmod(runtime, 0o755);

  const command = `${bin}/${COMMAND_NAME}`;
  await Deno.writeTextFile(
    command,
    renderLauncher({
      runtime: "../lib/deno",
      bundle: `../lib/${COMMAND_NAME}.js`,
      permissionFlags: RUNTIME_PERMISSION_FLAGS,
    }),
  );
  await Deno.chmod(command, 0o755);
  return { command, runtime, bundle, workers, strayModuleUrls };
}

async function bundleModule(entry: string, output: string): Promise<void> {
  await runCommand([
    Deno.execPath(),
    "bundle",
    "--frozen",
    "--platform=deno",
    "--output",
    output,
    entry,
  ], { cwd: REPO_ROOT, timeoutMs: 120_000 });
  await Deno.chmod(output, 0o644);
}
