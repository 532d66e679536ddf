/**
 * Conversion of a validated `[[channels]]` binding to the engine's {@link ChannelSpec}.
 *
 * @module
 */

import type { ChannelSpec, StandaloneSource } from "../../media/channel_spec.ts";
import { toProgramFormat } from "./program_format.ts";
import type { ChannelConfig, SourceConfig } from "./schema.ts";

/** The engine's view of a configured channel. Throws `FrameRateError` (unreachable if validated). */
export function toChannelSpec(channel: ChannelConfig): ChannelSpec {
  return {
    id: channel.id,
    name: channel.name,
    format: toProgramFormat(channel.format),
    video: {
      codec: channel.video.codec,
      preset: channel.video.preset,
      crf: channel.video.crf,
      bitrateKbps: channel.video.bitrate_kbps,
      keyintFrames: channel.video.keyint,
    },
    audio: { codec: channel.audio.codec, bitrateKbps: channel.audio.bitrate_kbps },
    source: toStandaloneSource(channel.source),
    decode: { skipLoopFilter: channel.decode.skip_loop_filter, share: channel.decode.share },
  };
}

/** The engine's standalone source for a configured one. */
export function toStandaloneSource(source: SourceConfig): StandaloneSource {
  switch (source.type) {
    case "test_pattern":
      return { kind: "test_pattern" };
    case "playlist":
      return { kind: "playlist", paths: [...source.files], loop: source.loop };
    case "directory":
      return {
        kind: "directory",
        path: source.path,
        loop: source.loop,
        extensions: [...source.extensions],
      };
    case "none":
      return { kind: "none" };
  }
}
