/**
 * Checks that a built command really runs the engine: `<command> --version` must print the
 * package version (and not be the Deno CLI answering for itself, as a compile against the
 * wrong `DENORT_BIN` does).
 *
 * @module
 */

import { resolve } from "node:path";
import { CommandFailedError, runCommand } from "./command.ts";

/** Why `command --version` does not print `version`, or null when it does. */
export async function versionProblem(command: string, version: string): Promise<string | null> {
  try {
    const { stdout } = await runCommand([resolve(command), "--version"], { timeoutMs: 30_000 });
    if (
      /^deno \d/m.test(stdout) ||
      !new RegExp(`(^|[^0-9.])${escape(version)}($|[^0-9.])`).test(stdout)
    ) {
      return `${command} --version printed ${JSON.stringify(stdout.slice(0, 200))}, not ${version}`;
    }
    return null;
  } catch (err) {
    if (err instanceof CommandFailedError) {
      return `${command} --version failed: ${err.message.split("\n").slice(0, 4).join(" ")}`;
    }
    throw err;
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
