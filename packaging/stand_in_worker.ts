/**
 * Worker of the packaging stand-in (see stand_in_main.ts): loads libavutil through FFI, as
 * the engine's channel workers do, and posts FFmpeg's version string.
 *
 * @module
 */

const lib = Deno.dlopen("libavutil.so.57", {
  av_version_info: { parameters: [], result: "pointer" },
});
const version = new Deno.UnsafePointerView(lib.symbols.av_version_info()!).getCString();
(self as unknown as Worker).postMessage(version);
