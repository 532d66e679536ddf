/**
 * The one program-format validator (media/program_format.ts) and its two entry points: the
 * config file's `[channels.format]` and gRPC's `program_format_json` accept and refuse the same
 * formats, naming the same field. The ranges are held to what FFmpeg's encoders and the mpegts
 * muxer really do: formats at the edges are encoded to MPEG-TS and read back with ffprobe, and
 * formats just outside are refused by the encoder too.
 */

import { assert, assertEquals } from "./assert.ts";
import { PlayoutConfigSchema } from "../src/config/schema.ts";
import {
  parseProgramFormatJson,
  ProgramFormatJsonError,
} from "../src/control/program_format_json.ts";
import { ProgramTsEncoder } from "../src/engine/program_ts_encoder.ts";
import {
  type ProgramFormat,
  type ProgramFormatField,
  programFormatProblems,
  samplesForFrame,
} from "../media/program_format.ts";
import { i420Size } from "../media/program_frame.ts";
import { formatRational } from "../media/rational.ts";
import {
  type AudioCodec,
  codecFormatProblems,
  mpeg2FrameRateSupported,
  type VideoCodec,
} from "../media/encoder_settings.ts";
import { ffprobe } from "./fixtures.ts";

const BASE: ProgramFormat = {
  width: 320,
  height: 240,
  frameRate: { num: 25, den: 1 },
  sampleRate: 48000,
  channels: 2,
  aspectPolicy: "preserve",
};

/** [what changes, the field that must be refused, or undefined when valid] */
const CASES: [Partial<ProgramFormat>, ProgramFormatField | undefined][] = [
  [{}, undefined],
  [{ width: 16, height: 16 }, undefined],
  [{ width: 7680, height: 4320 }, undefined],
  [{ width: 14 }, "width"],
  [{ width: 7682 }, "width"],
  [{ width: 321 }, "width"],
  [{ height: 4322 }, "height"],
  [{ frameRate: { num: 1, den: 1 } }, undefined],
  [{ frameRate: { num: 240, den: 1 } }, undefined],
  [{ frameRate: { num: 240000, den: 1001 } }, undefined],
  [{ frameRate: { num: 2, den: 3 } }, "frameRate"],
  [{ frameRate: { num: 241, den: 1 } }, "frameRate"],
  [{ frameRate: { num: 2 ** 31, den: 2 ** 26 } }, "frameRate"],
  [{ sampleRate: 8000 }, undefined],
  [{ sampleRate: 22050 }, undefined],
  [{ sampleRate: 96000 }, undefined],
  [{ sampleRate: 47000 }, "sampleRate"],
  [{ sampleRate: 7350 }, "sampleRate"],
  [{ sampleRate: 192000 }, "sampleRate"],
  [{ channels: 1 }, undefined],
  [{ channels: 8 }, undefined],
  [{ channels: 0 }, "channels"],
  [{ channels: 9 }, "channels"],
];

const CONFIG_KEY: Record<ProgramFormatField, string> = {
  width: "width",
  height: "height",
  frameRate: "frame_rate",
  sampleRate: "sample_rate",
  channels: "channels",
};
const JSON_FIELD: Record<ProgramFormatField, string> = {
  width: "video.width",
  height: "video.height",
  frameRate: "video.frame_rate",
  sampleRate: "audio.sample_rate",
  channels: "audio.channels",
};

/** The config's verdict: the refused format key, or undefined when the channel is accepted. */
function configVerdict(
  f: ProgramFormat,
  codecs: { video?: VideoCodec; audio?: AudioCodec } = {},
): string | undefined {
  const doc = {
    channels: [{
      id: 1,
      format: {
        width: f.width,
        height: f.height,
        frame_rate: formatRational(f.frameRate),
        sample_rate: f.sampleRate,
        channels: f.channels,
      },
      ...(codecs.video ? { video: { codec: codecs.video } } : {}),
      ...(codecs.audio ? { audio: { codec: codecs.audio } } : {}),
    }],
  };
  const parsed = PlayoutConfigSchema.safeParse(doc);
  if (parsed.success) return undefined;
  const paths = parsed.error.issues.map((i) => i.path.join("."));
  assertEquals(paths.length, 1, `one problem for ${JSON.stringify(doc)}: ${paths}`);
  const prefix = "channels.0.format.";
  assert(paths[0].startsWith(prefix), paths[0]);
  return paths[0].slice(prefix.length);
}

/** gRPC's verdict: the refused JSON field, or undefined when accepted. */
function grpcVerdict(f: ProgramFormat): string | undefined {
  const json = JSON.stringify({
    video: { width: f.width, height: f.height, frame_rate: formatRational(f.frameRate) },
    audio: { sample_rate: f.sampleRate, channels: f.channels },
  });
  try {
    parseProgramFormatJson(json);
    return undefined;
  } catch (err) {
    assert(err instanceof ProgramFormatJsonError, String(err));
    assert(err.message.startsWith(err.field), err.message);
    return err.field;
  }
}

Deno.test("config and gRPC accept and refuse the same program formats, naming the same field", () => {
  for (const [change, field] of CASES) {
    const f = { ...BASE, ...change };
    const what = JSON.stringify(change);
    assertEquals(programFormatProblems(f).map((p) => p.field), field ? [field] : [], what);
    assertEquals(configVerdict(f), field && CONFIG_KEY[field], `config: ${what}`);
    assertEquals(grpcVerdict(f), field && JSON_FIELD[field], `gRPC: ${what}`);
  }
});

Deno.test("a refusal names the value and what was expected", () => {
  try {
    parseProgramFormatJson(
      '{"video":{"width":320,"height":240,"frame_rate":"25"},"audio":{"sample_rate":47000,"channels":2}}',
    );
    throw new Error("accepted 47000 Hz");
  } catch (err) {
    assert(err instanceof ProgramFormatJsonError, String(err));
    assertEquals([err.field, err.value], ["audio.sample_rate", 47000]);
    assert(err.message.includes("44100, 48000"), err.message);
  }
});

Deno.test("mpeg2video and mp2 narrow the format in the config, on the field they refuse", () => {
  const at = (change: Partial<ProgramFormat>) => ({ ...BASE, ...change });
  assertEquals(
    configVerdict(at({ frameRate: { num: 25, den: 2 } }), { video: "mpeg2video" }),
    undefined,
  );
  assertEquals(
    configVerdict(at({ frameRate: { num: 7, den: 1 } }), { video: "mpeg2video" }),
    "frame_rate",
  );
  assertEquals(configVerdict(at({ frameRate: { num: 7, den: 1 } })), undefined);
  assertEquals(configVerdict(at({ sampleRate: 8000 }), { audio: "mp2" }), "sample_rate");
  assertEquals(configVerdict(at({ sampleRate: 16000 }), { audio: "mp2" }), undefined);
  assertEquals(configVerdict(at({ channels: 6 }), { audio: "mp2" }), "channels");
  assertEquals(configVerdict(at({ channels: 6 })), undefined);
  // MPEG-2's table (ISO 13818-2 6-4) with its extension factors.
  assert(mpeg2FrameRateSupported({ num: 30000, den: 1001 }));
  assert(mpeg2FrameRateSupported({ num: 240, den: 1 }));
  assert(!mpeg2FrameRateSupported({ num: 7, den: 1 }));
});

/** Encodes ten frames of `f` to MPEG-TS; returns what ffprobe reads, or the encoder's error. */
async function encode(
  f: ProgramFormat,
  video: VideoCodec,
  audio: AudioCodec,
): Promise<{ rate: string; sampleRate: number; channels: number } | Error> {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    let enc: ProgramTsEncoder;
    try {
      enc = new ProgramTsEncoder(
        f,
        {
          codec: video,
          preset: "ultrafast",
          crf: 30,
          bitrateKbps: video === "mpeg2video" ? 800 : undefined,
          keyintFrames: 5,
        },
        { codec: audio, bitrateKbps: audio === "mp2" ? 128 : 48 * f.channels },
        { file },
      );
    } catch (err) {
      return err as Error;
    }
    for (let k = 0; k < 10; k++) {
      const samples = samplesForFrame(k, f);
      enc.encode({
        frameNumber: k,
        pts90k: 0,
        wallClockUtcUs: 0,
        video: new Uint8Array(i420Size(f.width, f.height)).fill(128),
        audio: new Int16Array(samples * f.channels),
        samples,
        flags: 0,
      });
    }
    enc.finish();
    const probe = await ffprobe(file, [
      "-show_entries",
      "stream=codec_type,r_frame_rate,sample_rate,channels",
    ]);
    const streams = probe.streams as Record<string, string | number>[];
    const v = streams.find((s) => s.codec_type === "video");
    const a = streams.find((s) => s.codec_type === "audio");
    assert(v && a, JSON.stringify(streams));
    return {
      rate: String(v.r_frame_rate),
      sampleRate: Number(a.sample_rate),
      channels: Number(a.channels),
    };
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("the edges of the ranges really encode and mux; just outside, the encoder refuses too", async () => {
  const small = { ...BASE, width: 64, height: 48 };
  const edges: [Partial<ProgramFormat>, VideoCodec, AudioCodec][] = [
    [{ frameRate: { num: 240, den: 1 }, sampleRate: 96000, channels: 8 }, "libx264", "aac"],
    [{ frameRate: { num: 1, den: 1 }, sampleRate: 8000, channels: 1 }, "libx264", "aac"],
    [{ frameRate: { num: 25, den: 2 }, sampleRate: 16000, channels: 2 }, "mpeg2video", "mp2"],
  ];
  for (const [change, video, audio] of edges) {
    const f = { ...small, ...change };
    assertEquals([...programFormatProblems(f), ...codecFormatProblems(f, { video, audio })], []);
    assertEquals(await encode(f, video, audio), {
      rate: formatRational(f.frameRate),
      sampleRate: f.sampleRate,
      channels: f.channels,
    }, JSON.stringify(change));
  }
  const outside: [Partial<ProgramFormat>, VideoCodec, AudioCodec][] = [
    [{ sampleRate: 47000 }, "libx264", "aac"],
    [{ sampleRate: 8000 }, "libx264", "mp2"],
    [{ channels: 6 }, "libx264", "mp2"],
    [{ frameRate: { num: 7, den: 1 } }, "mpeg2video", "aac"],
  ];
  for (const [change, video, audio] of outside) {
    const f = { ...small, ...change };
    const refused = [...programFormatProblems(f), ...codecFormatProblems(f, { video, audio })];
    assertEquals(refused.length, 1, JSON.stringify(change));
    const result = await encode(f, video, audio);
    assert(
      result instanceof Error,
      `the encoder took ${JSON.stringify(change)}: ${JSON.stringify(result)}`,
    );
  }
});
