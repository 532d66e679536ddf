/**
 * The configuration schema: the single source of truth for what a `config.toml` may say, its
 * defaults, and the types the rest of the engine sees ({@link PlayoutConfig},
 * {@link ChannelConfig}). Keys are the TOML keys (snake_case).
 *
 * Every schema node carries the phrase that says what it expects ("an integer port
 * 0..65535"), so a validation issue renders as `path: expected <phrase>, got <value>`
 * (see `problems.ts`).
 *
 * @module
 */

import { z } from "zod";
import {
  AUDIO_CODECS,
  codecFormatProblems,
  DEFAULT_AUDIO_CODEC,
  DEFAULT_AUDIO_KBPS,
  DEFAULT_MPEG2_BITRATE_KBPS,
  DEFAULT_VIDEO_CODEC,
  DEFAULT_X264_CRF,
  DEFAULT_X264_PRESET,
  defaultKeyintFrames,
  VIDEO_CODECS,
  X264_PRESETS,
} from "../../media/encoder_settings.ts";
import {
  type AspectPolicy,
  DEFAULT_PROGRAM_FORMAT,
  PROGRAM_FORMAT_LIMITS,
  type ProgramFormat,
  type ProgramFormatField,
  type ProgramFormatProblem,
  programFormatProblems,
} from "../../media/program_format.ts";
import { formatRational, parseRational } from "../../media/rational.ts";
import { LOOP_FILTER_SKIPS } from "../../media/channel_spec.ts";
import { parseHostPort } from "../endpoints/host_port.ts";
import { parsePublicUrl } from "../endpoints/public_url.ts";

/** Default gRPC unix socket (falls back when not writable; see `runtime_paths.ts`). */
export const DEFAULT_GRPC_SOCKET = "/var/run/retrovue/playout.sock";
/** Directory of the default per-channel frame-sink sockets `playout-<id>`. */
export const DEFAULT_FRAME_SINK_DIR = "/run/retrovue";
/** Default state directory. */
export const DEFAULT_STATE_DIR = "/var/lib/retrovue-playout";
/** Default HTTP egress port. */
export const DEFAULT_HTTP_PORT = 8080;
/** Default Prometheus metrics port. */
export const DEFAULT_METRICS_PORT = 9308;
/**
 * Default directory of Prometheus file_sd target files of Core-managed engines (one file per
 * engine; see `docs/core-managed.md`). Not under `/run/retrovue`, which the standalone unit's
 * `RuntimeDirectory=` removes when it stops.
 */
export const DEFAULT_METRICS_TARGETS_DIR = "/run/retrovue-playout/metrics-targets";
/** Default permission bits of the gRPC unix socket. */
export const DEFAULT_SOCKET_MODE = 0o660;

/** The default frame-sink unix socket of channel `id`. */
export function defaultFrameSinkPath(id: number): string {
  return `${DEFAULT_FRAME_SINK_DIR}/playout-${id}`;
}

/** Video files a `directory` source picks up by default (case-insensitive). */
export const DEFAULT_MEDIA_EXTENSIONS: readonly string[] = Object.freeze([
  ".mp4",
  ".m4v",
  ".mkv",
  ".mov",
  ".ts",
  ".mpg",
  ".mpeg",
  ".avi",
  ".webm",
]);

// ---------------------------------------------------------------------------------------------
// Building blocks: each attaches its "expected" phrase as the schema's error map.

/** Schema params whose every issue message is `expected`. */
function expecting(expected: string): { errorMap: z.ZodErrorMap } {
  return { errorMap: () => ({ message: expected }) };
}

/** A strict TOML table: unknown keys are issues whose message lists the known keys. */
function table<T extends z.ZodRawShape>(shape: T) {
  const known = Object.keys(shape).join(", ");
  return z.object(shape, {
    errorMap: (issue) => ({
      message: issue.code === z.ZodIssueCode.unrecognized_keys ? `one of ${known}` : "a table",
    }),
  }).strict();
}

function quotedList(values: readonly (string | number)[]): string {
  const parts = values.map((v) => JSON.stringify(v));
  return parts.length < 2
    ? parts.join("")
    : `${parts.slice(0, -1).join(", ")} or ${parts[parts.length - 1]}`;
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, expecting(`one of ${quotedList(values)}`));
}

function integer(min: number, max: number, what = "an integer") {
  return z.number(expecting(`${what} ${min}..${max}`)).int().min(min).max(max);
}

function evenInteger(min: number, max: number) {
  // multipleOf rather than a refinement: it carries over into the published JSON Schema.
  return integer(min, max, "an even integer").multipleOf(2);
}

const port = () => integer(0, 65535, "an integer port");

const PATH_PHRASE = "a non-empty path";
const path = () => z.string(expecting(PATH_PHRASE)).min(1);

const HOST_PORT_PHRASE = '"HOST:PORT" with port 1..65535, like "127.0.0.1:50051"';
const hostPort = () =>
  z.string(expecting(HOST_PORT_PHRASE)).refine(
    (s) => parseHostPort(s) !== undefined,
    HOST_PORT_PHRASE,
  );

const RATIONAL_PHRASE = '"N/D" like "30000/1001"';

const SOCKET_MODE_PHRASE = 'permission bits like "0660" (a string) or 0o660';
const socketMode = () =>
  z.union([z.string(), z.number()], expecting(SOCKET_MODE_PHRASE)).transform((v, ctx) => {
    const mode = typeof v === "number" ? v : /^0?[0-7]{3}$/.test(v) ? parseInt(v, 8) : NaN;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: SOCKET_MODE_PHRASE });
      return z.NEVER;
    }
    return mode;
  });

// ---------------------------------------------------------------------------------------------
// Global sections.

const GrpcSchema = table({
  /** Unix socket path; "" for none. */
  unix_socket: z.string(expecting('a socket path, or "" for none')).default(DEFAULT_GRPC_SOCKET),
  unix_socket_mode: socketMode().default("0660"),
  /** TCP listen addresses, "host:port". */
  tcp: z.array(hostPort(), expecting("a list of addresses")).default([]),
}).transform((g) => ({
  unix_socket: g.unix_socket === "" ? undefined : g.unix_socket,
  unix_socket_mode: g.unix_socket_mode,
  tcp: g.tcp,
}));

const PUBLIC_URL_PHRASE =
  'an http(s) URL like "https://tv.example.com/retrovue", a path prefix like "/retrovue", or ""';

const HttpSchema = table({
  bind: z.string(expecting("a bind address")).min(1).default("0.0.0.0"),
  port: port().default(DEFAULT_HTTP_PORT),
  /**
   * Where viewers reach the engine (behind a reverse proxy): every URL the engine hands out
   * starts with it. "" = `http://<Host header>`.
   */
  public_url: z.string(expecting(PUBLIC_URL_PHRASE)).refine(
    (s) => parsePublicUrl(s) !== undefined,
    PUBLIC_URL_PHRASE,
  ).default(""),
});

/** Default friendly name of the HDHomeRun emulation. */
export const DEFAULT_TUNER_NAME = "RetroVue Playout";

const TunerSchema = table({
  /** HDHomeRun DeviceID, 8 hex digits; default: generated once and kept in the state dir. */
  device_id: z.string(expecting('8 hex digits like "1a2b3c4d"')).regex(/^[0-9A-Fa-f]{8}$/)
    .optional(),
  friendly_name: z.string(expecting("a name")).min(1).default(DEFAULT_TUNER_NAME),
  /** Simultaneous streams Plex/Jellyfin allow; default max(4, number of channels). */
  tuner_count: integer(1, 64).optional(),
});

const HlsSchema = table({
  enabled: z.boolean(expecting("true or false")).default(true),
  /** GOPs per HLS segment (a GOP is 2 s by default). */
  segment_gops: integer(1, 10).default(1),
  /** Segments listed in the live playlist. */
  window: integer(6, 60).default(6),
});

const MetricsSchema = table({
  enabled: z.boolean(expecting("true or false")).default(true),
  bind: z.string(expecting("a bind address")).min(1).default("0.0.0.0"),
  port: port().default(DEFAULT_METRICS_PORT),
});

/** Log levels accepted in config and on the command line. */
export const LOG_LEVEL_VALUES = ["debug", "info", "warn", "error"] as const;
/** Log formats; `auto` = human on a terminal, JSON lines otherwise. */
export const LOG_FORMAT_VALUES = ["auto", "json", "human"] as const;

const LogSchema = table({
  level: oneOf(LOG_LEVEL_VALUES).default("info"),
  format: oneOf(LOG_FORMAT_VALUES).default("auto"),
});

/** Default disk cap of one channel's evidence spools (64 MiB). */
export const DEFAULT_EVIDENCE_SPOOL_MAX_BYTES = 64 * 1024 * 1024;

/** As-run evidence to Core: spools under `<state_dir>/evidence/`. */
const EvidenceSchema = table({
  /** Disk cap of one channel's spools (not yet acked by Core), bytes. */
  spool_max_bytes_per_channel: integer(16 * 1024, 2 ** 40).default(
    DEFAULT_EVIDENCE_SPOOL_MAX_BYTES,
  ),
});

// ---------------------------------------------------------------------------------------------
// Channels.

const LIMITS = PROGRAM_FORMAT_LIMITS;
/** The format fields as the file spells them, each with the checks JSON Schema can publish. */
const FORMAT_FIELDS = {
  width: evenInteger(LIMITS.minSide, LIMITS.maxWidth),
  height: evenInteger(LIMITS.minSide, LIMITS.maxHeight),
  frame_rate: z.string(expecting(RATIONAL_PHRASE)).refine(
    (text) => parseRational(text) !== undefined,
    RATIONAL_PHRASE,
  ),
  sample_rate: z.union(
    LIMITS.sampleRates.map((r) => z.literal(r)) as unknown as [
      z.ZodLiteral<number>,
      z.ZodLiteral<number>,
      ...z.ZodLiteral<number>[],
    ],
    expecting(`one of ${LIMITS.sampleRates.join(", ")}`),
  ),
  channels: integer(LIMITS.channels.min, LIMITS.channels.max),
} as const;
const FORMAT_KEY: Readonly<Record<ProgramFormatField, keyof typeof FORMAT_FIELDS>> = {
  width: "width",
  height: "height",
  frameRate: "frame_rate",
  sampleRate: "sample_rate",
  channels: "channels",
};

/**
 * Adds `problems` as issues under `prefix`, leaving out fields whose own check above already
 * refused them (so each bad field is reported once).
 */
function addFormatProblems(
  ctx: z.RefinementCtx,
  raw: Record<string, unknown>,
  problems: readonly ProgramFormatProblem[],
  prefix: (string | number)[] = [],
): void {
  for (const p of problems) {
    const key = FORMAT_KEY[p.field];
    if (!FORMAT_FIELDS[key].safeParse(raw[key]).success) continue;
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...prefix, key], message: p.expected });
  }
}

/** The engine's {@link ProgramFormat} of a `[channels.format]` table, undefined if not "N/D". */
function formatOf(f: {
  width: number;
  height: number;
  frame_rate: string;
  sample_rate: number;
  channels: number;
  aspect_policy: AspectPolicy;
}): ProgramFormat | undefined {
  const frameRate = parseRational(f.frame_rate);
  if (frameRate === undefined) return undefined;
  return {
    width: f.width,
    height: f.height,
    frameRate,
    sampleRate: f.sample_rate,
    channels: f.channels,
    aspectPolicy: f.aspect_policy,
  };
}

// The ranges are the one validator's (media/program_format.ts): the fields publish them to JSON
// Schema, and programFormatProblems() decides.
const FormatSchema = table({
  width: FORMAT_FIELDS.width.default(DEFAULT_PROGRAM_FORMAT.width),
  height: FORMAT_FIELDS.height.default(DEFAULT_PROGRAM_FORMAT.height),
  frame_rate: FORMAT_FIELDS.frame_rate.default(formatRational(DEFAULT_PROGRAM_FORMAT.frameRate)),
  sample_rate: FORMAT_FIELDS.sample_rate.default(DEFAULT_PROGRAM_FORMAT.sampleRate),
  channels: FORMAT_FIELDS.channels.default(DEFAULT_PROGRAM_FORMAT.channels),
  aspect_policy: oneOf(["preserve", "stretch", "crop"]).default(
    DEFAULT_PROGRAM_FORMAT.aspectPolicy,
  ),
}).superRefine((f, ctx) => {
  const format = formatOf(f);
  if (format !== undefined) addFormatProblems(ctx, f, programFormatProblems(format));
});

const VideoSchema = table({
  codec: oneOf(VIDEO_CODECS).default(DEFAULT_VIDEO_CODEC),
  /** x264 preset; ignored by mpeg2video. */
  preset: oneOf(X264_PRESETS).default(DEFAULT_X264_PRESET),
  crf: integer(0, 51).optional(),
  bitrate_kbps: integer(100, 100_000).optional(),
  /** GOP length in frames; default two seconds of the program frame rate. */
  keyint: integer(1, 1000).optional(),
}).superRefine((v, ctx) => {
  if (v.crf !== undefined && v.bitrate_kbps !== undefined) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ["bitrate_kbps"],
      message: "crf or bitrate_kbps, not both",
    });
  }
  if (v.crf !== undefined && v.codec === "mpeg2video") {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ["crf"],
      message: 'no crf with codec "mpeg2video" (use bitrate_kbps)',
    });
  }
}).transform((v) =>
  v.crf === undefined && v.bitrate_kbps === undefined
    ? v.codec === "libx264"
      ? { ...v, crf: DEFAULT_X264_CRF }
      : { ...v, bitrate_kbps: DEFAULT_MPEG2_BITRATE_KBPS }
    : v
);

const AudioSchema = table({
  codec: oneOf(AUDIO_CODECS).default(DEFAULT_AUDIO_CODEC),
  bitrate_kbps: integer(32, 512).optional(),
}).transform((a) => ({
  codec: a.codec,
  bitrate_kbps: a.bitrate_kbps ?? DEFAULT_AUDIO_KBPS[a.codec],
}));

const DecodeSchema = table({
  /**
   * Which source pictures skip H.264/HEVC deblocking: auto (on non-reference pictures where the
   * program is at most two thirds of the source's width and height), none, nonref, bidir, all.
   */
  skip_loop_filter: oneOf(LOOP_FILTER_SKIPS).default("auto"),
  /**
   * A file this channel airs from the same in-point, in the same program format, as another
   * channel of the engine at the same moment is decoded once for both (default true).
   */
  share: z.boolean(expecting("true or false")).default(true),
});

const loop = () => z.boolean(expecting("true or false")).default(true);

/** Source kinds of a standalone channel. `none` = driven by gRPC only. */
export const SOURCE_TYPES = ["test_pattern", "playlist", "directory", "none"] as const;

const SourceSchema = z.discriminatedUnion("type", [
  table({ type: z.literal("test_pattern") }),
  table({
    type: z.literal("playlist"),
    /** Media files, played in order; relative paths are relative to the config file. */
    files: z.array(path(), expecting("a list of file paths")).min(1, "at least one file"),
    loop: loop(),
  }),
  table({
    type: z.literal("directory"),
    /** Directory whose media files play in name order; relative to the config file. */
    path: path(),
    loop: loop(),
    extensions: z.array(
      z.string(expecting('a file extension like ".mp4"')).regex(/^\.[A-Za-z0-9]+$/),
      expecting("a list of extensions"),
    ).default([...DEFAULT_MEDIA_EXTENSIONS]),
  }),
  table({ type: z.literal("none") }),
], {
  errorMap: (issue) => ({
    message: issue.code === z.ZodIssueCode.invalid_union_discriminator
      ? `one of ${quotedList(SOURCE_TYPES)}`
      : `a table with type = ${quotedList(SOURCE_TYPES)}`,
  }),
});

const FrameSinkSchema = table({
  enabled: z.boolean(expecting("true or false")).default(true),
  /** Unix socket Renderers connect to; default /run/retrovue/playout-<id> unless tcp is set. */
  unix: path().optional(),
  tcp: hostPort().optional(),
});

const CHANNEL_ID_MAX = 2 ** 31 - 1;

const ChannelSchema = table({
  id: integer(1, CHANNEL_ID_MAX, "an integer channel id"),
  name: z.string(expecting("a channel name")).min(1).optional(),
  format: FormatSchema.default({}),
  video: VideoSchema.default({}),
  audio: AudioSchema.default({}),
  decode: DecodeSchema.default({}),
  source: SourceSchema.default({ type: "test_pattern" }),
  frame_sink: FrameSinkSchema.default({}),
  /** Serve this channel at http://<bind>:<port>/channel/<id>.ts. */
  http_egress: z.boolean(expecting("true or false")).default(true),
  /** Guide (virtual channel) number shown by Plex/Jellyfin, like "7" or "7.1"; default the id. */
  number: z.string(expecting('a channel number like "7" or "7.1"')).regex(/^\d{1,5}(\.\d{1,5})?$/)
    .optional(),
  /** Logo image URL for the M3U `tvg-logo` and the guide. */
  logo: z.string(expecting("an http(s) URL")).url().regex(/^https?:/i).optional(),
  /** M3U `group-title`. */
  group: z.string(expecting("a group name")).min(1).optional(),
}).superRefine((c, ctx) => {
  // What the chosen codecs add to the format's ranges (mpeg2video rates, mp2 rates/channels).
  const format = formatOf(c.format);
  if (format === undefined || programFormatProblems(format).length > 0) return;
  const codecs = { video: c.video.codec, audio: c.audio.codec };
  addFormatProblems(ctx, c.format, codecFormatProblems(format, codecs), ["format"]);
}).transform((c) => ({
  ...c,
  name: c.name ?? `Channel ${c.id}`,
  number: c.number ?? String(c.id),
  video: {
    ...c.video,
    keyint: c.video.keyint ??
      defaultKeyintFrames(
        parseRational(c.format.frame_rate) ?? DEFAULT_PROGRAM_FORMAT.frameRate,
      ),
  },
  frame_sink: {
    enabled: c.frame_sink.enabled,
    unix: c.frame_sink.unix ??
      (c.frame_sink.tcp === undefined ? defaultFrameSinkPath(c.id) : undefined),
    tcp: c.frame_sink.tcp,
  },
}));

// ---------------------------------------------------------------------------------------------
// Cross-field checks. They run on the raw input before the shape is parsed, so they are
// reported even when some other field is malformed.

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkCrossFields(raw: unknown, ctx: z.RefinementCtx): void {
  if (!isRecord(raw)) return;
  const channels = Array.isArray(raw.channels) ? raw.channels : [];
  const firstIndexOfId = new Map<number, number>();
  channels.forEach((channel, i) => {
    if (!isRecord(channel) || typeof channel.id !== "number") return;
    const first = firstIndexOfId.get(channel.id);
    if (first === undefined) {
      firstIndexOfId.set(channel.id, i);
    } else {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["channels", i, "id"],
        message: `a unique channel id (channels[${first}].id is also ${channel.id})`,
      });
    }
  });

  // Guide numbers are what Plex and Jellyfin key channels by: one per channel.
  const firstIndexOfNumber = new Map<string, number>();
  channels.forEach((channel, i) => {
    if (!isRecord(channel)) return;
    // A repeated id is reported above; its default number repeats with it.
    if (typeof channel.number !== "string" && firstIndexOfId.get(channel.id as number) !== i) {
      return;
    }
    const number = typeof channel.number === "string"
      ? channel.number
      : typeof channel.id === "number"
      ? String(channel.id)
      : undefined;
    if (number === undefined) return;
    const first = firstIndexOfNumber.get(number);
    if (first === undefined) {
      firstIndexOfNumber.set(number, i);
    } else {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["channels", i, typeof channel.number === "string" ? "number" : "id"],
        message: `a unique channel number (channels[${first}] is also number ${number})`,
      });
    }
  });

  // Fixed TCP ports that would collide: http, metrics and the gRPC TCP listeners.
  const claimed = new Map<number, string>();
  const claim = (port: unknown, path: (string | number)[]) => {
    if (typeof port !== "number" || !Number.isInteger(port) || port <= 0 || port > 65535) return;
    const owner = claimed.get(port);
    const name = path.join(".").replace(/\.(\d+)/g, "[$1]");
    if (owner === undefined) {
      claimed.set(port, name);
    } else {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path,
        message: `a port not already used by ${owner}`,
      });
    }
  };
  const section = (key: string) => isRecord(raw[key]) ? raw[key] as Record<string, unknown> : {};
  const http = section("http");
  const metrics = section("metrics");
  claim(http.port ?? DEFAULT_HTTP_PORT, ["http", "port"]);
  if (metrics.enabled !== false) claim(metrics.port ?? DEFAULT_METRICS_PORT, ["metrics", "port"]);
  const tcp = section("grpc").tcp;
  if (Array.isArray(tcp)) {
    tcp.forEach((addr, i) => {
      if (typeof addr === "string") claim(parseHostPort(addr)?.port, ["grpc", "tcp", i]);
    });
  }

  // Frame sinks: a TCP port is claimed like the listeners above; a unix socket path belongs to
  // one listener (the gRPC socket or one channel's sink), defaults included.
  const paths = new Map<string, string>();
  const grpcSocket = section("grpc").unix_socket;
  const grpcPath = grpcSocket === undefined ? DEFAULT_GRPC_SOCKET : grpcSocket;
  if (typeof grpcPath === "string" && grpcPath !== "") paths.set(grpcPath, "grpc.unix_socket");
  channels.forEach((channel, i) => {
    if (!isRecord(channel)) return;
    const sink = isRecord(channel.frame_sink) ? channel.frame_sink : {};
    if (sink.enabled === false) return;
    if (typeof sink.tcp === "string") {
      claim(parseHostPort(sink.tcp)?.port, ["channels", i, "frame_sink", "tcp"]);
    }
    const unix = sink.unix ??
      (sink.tcp === undefined && typeof channel.id === "number"
        ? defaultFrameSinkPath(channel.id)
        : undefined);
    if (typeof unix !== "string" || unix === "") return;
    // A duplicate id is reported as such; its default sink path follows from it.
    if (sink.unix === undefined && firstIndexOfId.get(channel.id as number) !== i) return;
    const owner = paths.get(unix);
    if (owner === undefined) {
      paths.set(unix, `channels[${i}].frame_sink.unix`);
    } else {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["channels", i, "frame_sink", "unix"],
        message: `a socket path not already used by ${owner}` +
          (sink.unix === undefined ? ` (the default ${unix})` : ""),
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The root.

const RootSchema = table({
  grpc: GrpcSchema.default({}),
  http: HttpSchema.default({}),
  tuner: TunerSchema.default({}),
  hls: HlsSchema.default({}),
  metrics: MetricsSchema.default({}),
  log: LogSchema.default({}),
  evidence: EvidenceSchema.default({}),
  state_dir: path().default(DEFAULT_STATE_DIR),
  channels: z.array(ChannelSchema, expecting("an array of [[channels]] tables")).default([]),
});

/** The whole configuration file. Parse with `safeParse` and render issues with `problems.ts`. */
export const PlayoutConfigSchema = z.preprocess((raw, ctx) => {
  checkCrossFields(raw, ctx);
  return raw;
}, RootSchema);

/** A validated configuration, defaults filled in. */
export type PlayoutConfig = z.output<typeof RootSchema>;
/** What a configuration file may contain (before defaults). */
export type PlayoutConfigInput = z.input<typeof RootSchema>;
/** One validated channel binding. */
export type ChannelConfig = PlayoutConfig["channels"][number];
/** A channel's standalone source. */
export type SourceConfig = ChannelConfig["source"];
/** A channel's video encoder settings; exactly one of `crf` / `bitrate_kbps` is set. */
export type VideoConfig = ChannelConfig["video"];
/** A channel's audio encoder settings. */
export type AudioConfig = ChannelConfig["audio"];
/** A channel's frame-sink endpoints. */
export type FrameSinkConfig = ChannelConfig["frame_sink"];
/** Log level as configured. */
export type ConfigLogLevel = PlayoutConfig["log"]["level"];
/** Log format as configured. */
export type ConfigLogFormat = PlayoutConfig["log"]["format"];

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The embedded default used when no `--config` is given: one demo channel (id 1, "RetroVue
 * Demo") from the test-pattern source, HTTP egress on 0.0.0.0:8080, metrics on 9308, gRPC and
 * frame sink on their default unix sockets. Derived through {@link PlayoutConfigSchema}.
 */
export const EMBEDDED_DEFAULT_CONFIG: Readonly<PlayoutConfig> = deepFreeze(
  PlayoutConfigSchema.parse({
    channels: [{ id: 1, name: "RetroVue Demo", source: { type: "test_pattern" } }],
  }),
);

/**
 * The base of the Core-managed mode (`--port` without `--config`): no channels (Core creates
 * them over gRPC), metrics on 127.0.0.1 at a free port (announced in a file_sd target file),
 * everything else as {@link EMBEDDED_DEFAULT_CONFIG}. The engine runs it without HTTP egress.
 */
export const CORE_MANAGED_CONFIG: Readonly<PlayoutConfig> = deepFreeze(
  PlayoutConfigSchema.parse({ metrics: { bind: "127.0.0.1", port: 0 } }),
);
