/**
 * The host's `ffmpeg` and `ffprobe` CLIs, bundled with every library they link (and the host's
 * dynamic loader) so they run unchanged in any root: the tests inside a root make their
 * fixtures and judge with the same tools as on the host, and the root's own FFmpeg libraries
 * stay the only ones the engine can find (the bundle is off the root's library path).
 *
 * @module
 */

import { CACHE_DIR, host, type Root } from "./root.ts";

/** Where the bundle sits inside a root. */
export const BUNDLE_IN_ROOT = "/opt/retrovue-ci-host-ffmpeg";
const TOOLS = ["ffmpeg", "ffprobe"];

async function resolveTool(name: string): Promise<string> {
  const out = await host(["sh", "-c", `command -v ${name}`]);
  return await Deno.realPath(out.trim());
}

/** The bundle in CACHE_DIR/host-ffmpeg/<key>/ (bin/, lib/), built when missing. */
export async function hostFfmpegBundle(): Promise<string> {
  const ffmpeg = await resolveTool("ffmpeg");
  const st = await Deno.stat(ffmpeg);
  const dir = `${CACHE_DIR}/host-ffmpeg/${st.size}-${st.mtime?.getTime() ?? 0}`;
  try {
    await Deno.stat(`${dir}/complete`);
    return dir;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const tmp = `${dir}.tmp-${Deno.pid}`;
  await Deno.mkdir(`${tmp}/bin`, { recursive: true });
  await Deno.mkdir(`${tmp}/lib`, { recursive: true });
  for (const tool of TOOLS) {
    const path = await resolveTool(tool);
    await Deno.copyFile(path, `${tmp}/bin/${tool}`);
    for (const line of (await host(["ldd", path])).split("\n")) {
      const m = line.match(/^\s*(\S+) => (\/\S+)/) ?? line.match(/^\s*(\/\S+ld-linux\S+)/);
      if (!m) continue;
      const [name, file] = m.length === 3 ? [m[1], m[2]] : [m[1].split("/").pop()!, m[1]];
      await Deno.copyFile(await Deno.realPath(file), `${tmp}/lib/${name}`);
    }
  }
  await Deno.writeTextFile(`${tmp}/complete`, "");
  await Deno.rename(tmp, dir).catch(async (err) => {
    // Another run finished first: use theirs.
    await host(["rm", "-rf", tmp]);
    if (!(err instanceof Deno.errors.AlreadyExists) && !String(err).includes("not empty")) {
      throw err;
    }
  });
  return dir;
}

/** Puts the bundle into `root` with `ffmpeg`/`ffprobe` wrappers in /usr/local/bin. */
export async function installHostFfmpeg(root: Root): Promise<void> {
  const bundle = await hostFfmpegBundle();
  await Deno.mkdir(root.hostPath("/opt"), { recursive: true });
  // Hard links where the file system allows (the bundle is only read), else a copy.
  await host(["cp", "-al", bundle, root.hostPath(BUNDLE_IN_ROOT)]).catch(() =>
    host(["cp", "-a", bundle, root.hostPath(BUNDLE_IN_ROOT)])
  );
  const loader = [...Deno.readDirSync(`${bundle}/lib`)].find((e) => e.name.startsWith("ld-linux"));
  if (!loader) throw new Error(`no dynamic loader in ${bundle}/lib`);
  for (const tool of TOOLS) {
    const wrapper = root.hostPath(`/usr/local/bin/${tool}`);
    await Deno.writeTextFile(
      wrapper,
      `#!/bin/sh\n# The host's ${tool} (FFmpeg CLI of the CI host), bundled: see ci/host_tools.ts\n` +
        `exec ${BUNDLE_IN_ROOT}/lib/${loader.name} --library-path ${BUNDLE_IN_ROOT}/lib ` +
        `${BUNDLE_IN_ROOT}/bin/${tool} "$@"\n`,
    );
    await Deno.chmod(wrapper, 0o755);
  }
}
