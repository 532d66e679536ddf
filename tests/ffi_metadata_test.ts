/**
 * Demuxer.tag: container metadata (the `title` the guide shows) as ffprobe reads it.
 */
import { assertEquals } from "./assert.ts";
import { Demuxer, FfmpegClosedError } from "../ffi/mod.ts";
import { ffmpegCli, ffprobe } from "./fixtures.ts";

const TITLE = 'Éclair & <Co> "Late" Show';

Deno.test("Demuxer.tag reads the container's title like ffprobe; missing tags are undefined", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ffi_metadata_" });
  try {
    const tagged = `${dir}/tagged.mkv`;
    const plain = `${dir}/plain.ts`;
    const base = ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10"];
    await ffmpegCli([
      ...base,
      "-t",
      "1",
      "-metadata",
      `title=${TITLE}`,
      "-c:v",
      "mpeg2video",
      tagged,
    ]);
    await ffmpegCli([...base, "-t", "1", "-c:v", "mpeg2video", plain]);
    const probed = await ffprobe(tagged, ["-show_format"]);
    const format = probed.format as { tags: Record<string, string> };
    assertEquals(format.tags.title, TITLE);

    using d = Demuxer.open(tagged);
    assertEquals(d.tag("title"), TITLE);
    assertEquals(d.tag("TITLE"), TITLE, "keys match case-insensitively");
    assertEquals(d.tag("artist"), undefined);
    using p = Demuxer.open(plain);
    assertEquals(p.tag("title"), undefined);
    p.close();
    let closed: unknown;
    try {
      p.tag("title");
    } catch (e) {
      closed = e;
    }
    assertEquals(closed instanceof FfmpegClosedError, true, "tag after close throws");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
