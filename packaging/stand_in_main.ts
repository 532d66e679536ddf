/**
 * Development stand-in for src/main.ts, used only to exercise packaging before the engine's
 * entry point exists (`deno task package --entry packaging/stand_in_main.ts`). It touches what
 * the packaged engine needs: `--version`, `--check-config FILE` (TOML parse), and a run mode
 * that loads FFmpeg through FFI in a Worker, serves `/metrics` (prom-client) and answers
 * `/channel/<id>.ts` with 503. Never shipped by default.
 *
 * @module
 */

import { parse } from "smol-toml";
import client from "prom-client";
import denoJson from "../deno.json" with { type: "json" };

const args = Deno.args;
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

if (args.includes("--version")) {
  console.log(`retrovue_playout ${denoJson.version} (packaging stand-in)`);
} else if (args.includes("--check-config")) {
  const file = flag("--check-config") ?? "";
  parse(await Deno.readTextFile(file));
  console.log(`${file}: ok`);
} else {
  const config = parse(await Deno.readTextFile(flag("--config") ?? "")) as {
    http?: { port?: number };
    metrics?: { port?: number };
  };
  const worker = new Worker(new URL("./stand_in_worker.ts", import.meta.url), { type: "module" });
  const ffmpeg = await new Promise<string>((resolve) => {
    worker.onmessage = (e: MessageEvent<string>) => resolve(e.data);
  });
  client.collectDefaultMetrics();
  const up = new client.Gauge({ name: "retrovue_playout_stand_in_up", help: "stand-in" });
  up.set(1);
  Deno.serve(
    { port: config.metrics?.port ?? 9308, onListen: () => {} },
    async () =>
      new Response(await client.register.metrics(), {
        headers: { "content-type": client.register.contentType },
      }),
  );
  Deno.serve(
    { port: config.http?.port ?? 8080, onListen: () => {} },
    () => new Response("stand-in: no engine\n", { status: 503 }),
  );
  console.log(JSON.stringify({ event: "stand_in_started", ffmpeg }));
}
