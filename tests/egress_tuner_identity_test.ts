/**
 * The HDHomeRun DeviceID: generated once per state directory and kept there, so restarts keep
 * it and two engines differ; the configured one wins; a broken file is replaced.
 */

import { assert, assertEquals } from "./assert.ts";
import { DEVICE_ID_FILE, loadDeviceId } from "../src/outputs/tuner_identity.ts";
import { channelToml, httpToml, startEngine } from "./viewer_fixtures.ts";

Deno.test("device id: generated once, kept in the state dir, configured one wins", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tuner_identity_" });
  try {
    const first = await loadDeviceId(`${dir}/a`, undefined);
    assertEquals(first.source, "generated");
    assert(/^[0-9A-F]{8}$/.test(first.id), first.id);
    assertEquals((await Deno.readTextFile(`${dir}/a/${DEVICE_ID_FILE}`)).trim(), first.id);
    const again = await loadDeviceId(`${dir}/a`, undefined);
    assertEquals([again.id, again.source], [first.id, "state"]);
    const other = await loadDeviceId(`${dir}/b`, undefined);
    assert(other.id !== first.id, "another state dir, another engine");
    assertEquals(await loadDeviceId(`${dir}/a`, "00c0ffee"), { id: "00C0FFEE", source: "config" });
    await Deno.writeTextFile(`${dir}/a/${DEVICE_ID_FILE}`, "not an id\n");
    const replaced = await loadDeviceId(`${dir}/a`, undefined);
    assertEquals(replaced.source, "generated");
    await Deno.writeTextFile(`${dir}/file`, "");
    const unsaved = await loadDeviceId(`${dir}/file/state`, undefined);
    assertEquals(unsaved.source, "unsaved");
    assert(unsaved.reason !== undefined && unsaved.reason !== "", "says why");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("device id: an engine restarted on the same state dir presents the same DeviceID", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tuner_identity_engine_" });
  try {
    const ids: string[] = [];
    for (let run = 0; run < 2; run++) {
      const engine = await startEngine(dir, [httpToml(), channelToml(1)].join("\n"));
      try {
        const d = await (await fetch(`${engine.base}/discover.json`)).json();
        ids.push(d.DeviceID);
        const m3u = await (await fetch(`${engine.base}/channels.m3u`)).text();
        assert(m3u.includes(`tvg-id="1.${d.DeviceID.toLowerCase()}"`), m3u);
      } finally {
        await engine.handle.stop();
      }
    }
    assertEquals(ids[0], ids[1]);
    assertEquals((await Deno.readTextFile(`${dir}/state/${DEVICE_ID_FILE}`)).trim(), ids[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
