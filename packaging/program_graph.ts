/**
 * The program's module graph as `deno info --json` reports it: the local modules (to find
 * worker entry points in) and the npm packages that end up in the build (for the copyright
 * file).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { runCommand } from "./command.ts";
import { REPO_ROOT } from "./package_metadata.ts";

/** An npm package in the graph. */
export interface NpmPackageRef {
  name: string;
  version: string;
  /** Its unpacked directory (node_modules), when deno knows it. */
  localPath?: string;
}

/** Local modules and npm packages reachable from some roots. */
export interface ProgramGraph {
  /** Absolute paths of the local (file:) modules. */
  modules: string[];
  /** npm packages, including transitive dependencies, sorted by name. */
  npmPackages: NpmPackageRef[];
}

interface DenoInfo {
  modules: { specifier: string }[];
  npmPackages?: Record<
    string,
    { name: string; version: string; dependencies?: string[]; localPath?: string }
  >;
}

/** The graph of one or more root modules (merged). */
export async function readProgramGraph(roots: readonly string[]): Promise<ProgramGraph> {
  const modules = new Set<string>();
  const npm = new Map<string, NpmPackageRef>();
  for (const root of roots) {
    const { stdout } = await runCommand(
      [Deno.execPath(), "info", "--json", "--frozen", root],
      { cwd: REPO_ROOT, timeoutMs: 120_000 },
    );
    const info = JSON.parse(stdout) as DenoInfo;
    const packages = info.npmPackages ?? {};
    const visit = (id: string) => {
      const pkg = packages[id];
      if (!pkg || npm.has(id)) return;
      npm.set(id, { name: pkg.name, version: pkg.version, localPath: pkg.localPath });
      for (const dep of pkg.dependencies ?? []) visit(dep);
    };
    for (const { specifier } of info.modules) {
      if (specifier.startsWith("file:")) modules.add(fileURLToPath(specifier));
      else if (specifier.startsWith("npm:/")) visit(specifier.slice("npm:/".length));
    }
  }
  return {
    modules: [...modules].sort(),
    npmPackages: [...npm.values()].sort((a, b) => a.name.localeCompare(b.name)),
  };
}
