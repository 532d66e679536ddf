/**
 * The published config JSON Schema (`retrovue_playout config schema`), judged by an
 * independent validator: Debian's python3-jsonschema (Draft 2020-12). The shipped example
 * config (packaging/config.toml, converted to JSON) and the embedded default's input pass;
 * bad configs fail at the path the engine names too; and the generic validator agrees with
 * the engine's own validation on every shape rule.
 */

import { assert, assertEquals } from "./assert.ts";
import { parse as parseToml } from "smol-toml";
import { PlayoutConfigSchema } from "../src/config/schema.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const EXAMPLE = new URL("../packaging/config.toml", import.meta.url).pathname;
const PYTHON = "/usr/bin/python3";

/** Validates each document with jsonschema's Draft202012Validator; returns error paths. */
const VALIDATE_PY = `
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema)
out = []
for doc in json.load(open(sys.argv[2])):
    errs = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    out.append([{"path": [str(p) for p in e.absolute_path], "message": e.message} for e in errs])
print(json.dumps(out))
`;

interface PyError {
  path: string[];
  message: string;
}

async function schemaFromCli(dir: string): Promise<string> {
  const file = `${dir}/schema.json`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "config", "schema", "--out", file],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return file;
}

async function validate(schema: string, docs: unknown[], dir: string): Promise<PyError[][]> {
  const probe = await new Deno.Command(PYTHON, {
    args: ["-c", "import jsonschema"],
    stderr: "piped",
  }).output();
  assert(
    probe.success,
    "python3-jsonschema is required (apt-get install python3-jsonschema; ./install.sh --test)",
  );
  const docsFile = `${dir}/docs.json`;
  await Deno.writeTextFile(docsFile, JSON.stringify(docs));
  const out = await new Deno.Command(PYTHON, {
    args: ["-c", VALIDATE_PY, schema, docsFile],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** TOML → JSON the way a shared tool would convert it (plain objects, arrays, scalars). */
function tomlToJson(text: string): unknown {
  return JSON.parse(JSON.stringify(parseToml(text)));
}

Deno.test("config schema: draft 2020-12, the example config passes, bad configs fail where the engine says", async () => {
  const dir = await Deno.makeTempDir({ prefix: "config_schema_" });
  try {
    const schemaFile = await schemaFromCli(dir);
    const schema = JSON.parse(await Deno.readTextFile(schemaFile));
    assertEquals(schema.$schema, "https://json-schema.org/draft/2020-12/schema");

    const example = tomlToJson(await Deno.readTextFile(EXAMPLE));
    const bad: [unknown, string[]][] = [
      [{ http: { port: 70000 } }, ["http", "port"]],
      [{ metrics: { enabled: "yes" } }, ["metrics", "enabled"]],
      [{ grpc: { unknown_key: 1 } }, ["grpc"]],
      [{ channels: [{ name: "no id" }] }, ["channels", "0"]],
      [{ channels: [{ id: 1, format: { width: 641 } }] }, ["channels", "0", "format", "width"]],
      [
        { channels: [{ id: 1, format: { sample_rate: 22000 } }] },
        ["channels", "0", "format", "sample_rate"],
      ],
      [{ channels: [{ id: 1, source: { type: "files" } }] }, ["channels", "0", "source"]],
      [{ channels: [{ id: 1, source: { type: "playlist" } }] }, ["channels", "0", "source"]],
      [
        { channels: [{ id: 1, video: { codec: "hevc" } }] },
        ["channels", "0", "video", "codec"],
      ],
      [{ log: { level: "loud" } }, ["log", "level"]],
      [{ state_dir: "" }, ["state_dir"]],
    ];
    const results = await validate(schemaFile, [example, {}, ...bad.map(([d]) => d)], dir);
    assertEquals(results[0], [], "packaging/config.toml");
    assertEquals(results[1], [], "an empty file (every default)");
    bad.forEach(([doc, path], i) => {
      const errors = results[i + 2];
      assert(errors.length > 0, `accepted: ${JSON.stringify(doc)}`);
      assert(
        errors.some((e) => JSON.stringify(e.path) === JSON.stringify(path)),
        `${JSON.stringify(doc)}: errors at ${JSON.stringify(errors.map((e) => e.path))}`,
      );
      // The engine refuses the same document.
      assert(!PlayoutConfigSchema.safeParse(doc).success, `engine accepts ${JSON.stringify(doc)}`);
    });
    // The example is valid for the engine too (the schema is not looser on what it ships).
    assert(PlayoutConfigSchema.safeParse(example).success, "engine refuses the example");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config schema: refinements beyond JSON Schema are documented in the schema", async () => {
  const dir = await Deno.makeTempDir({ prefix: "config_schema_" });
  try {
    const schemaFile = await schemaFromCli(dir);
    const schema = JSON.parse(await Deno.readTextFile(schemaFile));
    // Documents that only the engine refuses: the validator passes them, so the schema's
    // description must name the rule.
    const engineOnly: [unknown, string][] = [
      [{ channels: [{ id: 1 }, { id: 1 }] }, "unique"],
      [{ http: { port: 9308 } }, "share a TCP port"],
      [
        {
          channels: [{ id: 1, frame_sink: { unix: "/x" } }, { id: 2, frame_sink: { unix: "/x" } }],
        },
        "share a unix socket path",
      ],
      [{ channels: [{ id: 1, video: { crf: 20, bitrate_kbps: 3000 } }] }, "crf and bitrate_kbps"],
      [{ channels: [{ id: 1, format: { frame_rate: "1000/1" } }] }, "1..240 fps"],
    ];
    const results = await validate(schemaFile, engineOnly.map(([d]) => d), dir);
    engineOnly.forEach(([doc, phrase], i) => {
      assertEquals(results[i], [], `the generic validator passes ${JSON.stringify(doc)}`);
      assert(!PlayoutConfigSchema.safeParse(doc).success, `engine accepts ${JSON.stringify(doc)}`);
      assert(
        String(schema.description).includes(phrase),
        `schema description does not name "${phrase}"`,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
