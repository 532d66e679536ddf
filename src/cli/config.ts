/**
 * `retrovue_playout config schema [--out FILE]`: prints (or writes) the configuration's JSON
 * Schema, draft 2020-12, generated from the engine's own schema.
 *
 * @module
 */

import { configJsonSchema } from "../config/json_schema.ts";

const USAGE = "Usage: retrovue_playout config schema [--out FILE]";

/** Runs `config ...`; resolves with the exit code. */
export async function runConfigCommand(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  if (verb === "--help" || verb === "-h") {
    console.log(USAGE);
    return 0;
  }
  let out: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--out" && rest[i + 1] !== undefined) out = rest[++i];
    else return usage(`unexpected argument ${JSON.stringify(rest[i])}`);
  }
  if (verb !== "schema") return usage(verb ? `unknown config command "${verb}"` : "schema?");
  const text = JSON.stringify(configJsonSchema(), null, 2) + "\n";
  if (out === undefined) await Deno.stdout.write(new TextEncoder().encode(text));
  else await Deno.writeTextFile(out, text);
  return 0;
}

function usage(problem: string): number {
  console.error(`${problem}\n${USAGE}`);
  return 2;
}
