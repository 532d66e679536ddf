/**
 * Facts about the package being built: its name, version (read from deno.json, the one place
 * the version lives), Debian architecture and where it installs.
 *
 * @module
 */

import { LAYOUTS, SUPPORTED_AVCODEC_MAJORS } from "../ffi/layout.ts";

/** Debian package name. */
export const PACKAGE_NAME = "retrovue-playout";

/** File name of the installed command (both layouts). */
export const COMMAND_NAME = "retrovue_playout";

/** Installation prefix of the binary/runtime. */
export const INSTALL_PREFIX = "/opt/retrovue-playout";

/** The command every layout provides. */
export const INSTALLED_COMMAND = `${INSTALL_PREFIX}/bin/${COMMAND_NAME}`;

/** The conffile the service reads. */
export const CONFIG_PATH = "/etc/retrovue-playout/config.toml";

/** System user and group the service runs as. */
export const SERVICE_USER = "retrovue";

/** State directory (systemd `StateDirectory=`). */
export const STATE_DIR = "/var/lib/retrovue-playout";

/** Runtime directory (systemd `RuntimeDirectory=`): gRPC socket and frame pipes. */
export const RUNTIME_DIR = "/run/retrovue";

/** The repository root (the directory holding deno.json). */
export const REPO_ROOT: string = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/** deno.json has no usable `version`. */
export class PackageVersionError extends Error {
  override name = "PackageVersionError";
  constructor(readonly value: unknown, readonly file: string) {
    super(
      `${file}: "version" must be a Debian-safe version string like 1.2.3, got ${
        JSON.stringify(value)
      }`,
    );
  }
}

/** This machine's CPU has no Debian architecture we build for. */
export class UnsupportedArchitectureError extends Error {
  override name = "UnsupportedArchitectureError";
  constructor(readonly value: string) {
    super(`unsupported CPU architecture ${value}: Deno ships for x86_64 and aarch64 only`);
  }
}

/** Reads `version` from the repository's deno.json. */
export async function readPackageVersion(root: string = REPO_ROOT): Promise<string> {
  const file = `${root}/deno.json`;
  const json = JSON.parse(await Deno.readTextFile(file));
  const version = json?.version;
  // A native Debian version: digits first, then [0-9A-Za-z.+~] (no hyphen: that means a revision).
  if (typeof version !== "string" || !/^[0-9][0-9A-Za-z.+~]*$/.test(version)) {
    throw new PackageVersionError(version, file);
  }
  return version;
}

/** Debian architecture name of a Deno build architecture. */
export function debianArchitecture(arch: string = Deno.build.arch): string {
  switch (arch) {
    case "x86_64":
      return "amd64";
    case "aarch64":
      return "arm64";
    default:
      throw new UnsupportedArchitectureError(arch);
  }
}

/** File name of the .deb: `retrovue-playout_<version>_<arch>.deb`. */
export function debFileName(version: string, arch: string): string {
  return `${PACKAGE_NAME}_${version}_${arch}.deb`;
}

/**
 * FFmpeg runtime libraries: for each library, the sonames of every release line the engine has
 * a verified layout table for (`ffi/layout.ts`), newest first. The engine loads whichever
 * complete generation is present and refuses any other.
 */
export const FFMPEG_DEPENDS: readonly string[] = Object.freeze(
  (["avformat", "avcodec", "avutil", "swscale", "swresample", "avfilter"] as const).map((lib) =>
    [...new Set(SUPPORTED_AVCODEC_MAJORS.map((m) => LAYOUTS[m].majors[lib]))]
      .map((major) => `lib${lib}${major}`).join(" | ")
  ),
);

/** What the maintainer scripts use: adduser/deluser and deb-systemd-helper/-invoke. */
export const SCRIPT_DEPENDS: readonly string[] = Object.freeze([
  "adduser",
  "init-system-helpers (>= 1.52)",
]);

/** `Maintainer:` of the package: `$DEBFULLNAME <$DEBEMAIL>` when set. */
export function maintainer(env: Record<string, string | undefined> = Deno.env.toObject()): string {
  const name = env.DEBFULLNAME ?? "RetroVue developers";
  const email = env.DEBEMAIL ?? "retrovue-playout@users.noreply.github.com";
  return `${name} <${email}>`;
}
