/**
 * `retrovue.playout.PlayoutControl`: the twelve RPCs of the wire contract mapped onto the
 * engine's {@link ControlSurface}.
 *
 * Every request is validated (see `wire_requests.ts`) before it reaches the engine. Refusals
 * are answered with gRPC status OK, `success=false`, the typed code where the response has one
 * and a message naming the offending field or state; the only non-OK statuses are
 * SubscribeBlockEvents without a session (NOT_FOUND) or with a malformed channel id
 * (INVALID_ARGUMENT).
 *
 * A call for a channel whose stored plan is being restored waits for that restore
 * ({@link ControlSurface.settled}); GetVersion and calls for other channels never wait.
 *
 * Idempotency (spec): a repeated StartChannel of a running channel, StopChannel of a stopped
 * one, DetachStream when not attached and StopBlockPlanSession without a session succeed.
 *
 * The unary RPCs are a table: per RPC, the code validation errors get, how it answers (parse →
 * call → response) and the shape of its refusal, typed by the RPC's response; one path runs
 * them and logs each answer once.
 *
 * The spec's order of checks (state before structure) needs the channel's state before the
 * blocks are read: the service applies the engine's own rules (`control_rules.ts`) to what
 * {@link ControlSurface.get} says, first. Rules only the engine can judge (a session running
 * in the worker, its queue) are the engine's alone: FeedBlockPlan without a session is refused
 * by the engine (NO_SESSION).
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import {
  ControlError,
  type ControlErrorCode,
  type ControlSurface,
} from "../engine/control_surface.ts";
import type { BlockEvent, BlockPlan } from "../engine/plan.ts";
import {
  checkCanAttach,
  checkCanStartBlockSession,
  checkContiguous,
  checkStartedBySegment,
} from "../engine/control_rules.ts";
import type { ProgramFormat } from "../../media/program_format.ts";
import type { Logger } from "../log/log.ts";
import { parsePlanHandle, PlanHandleError } from "./plan_handle.ts";
import { parseProgramFormatJson, ProgramFormatJsonError } from "./program_format_json.ts";
import {
  blockPlanResultCodeFor,
  type BlockPlanResultCodeName,
  resultCodeFor,
  type ResultCodeName,
} from "./result_codes.ts";
import {
  parseAttachStream,
  parseBlockPlan,
  parseChannelId,
  parseDetachStream,
  parseLoadPreview,
  parseStartBlockSession,
  parseStartChannel,
  parseStopBlockSession,
  parseSwitchToLive,
  parseUpdatePlan,
  rawBlockTimes,
  wireTransport,
  WireValidationError,
} from "./wire_requests.ts";

/** Shortest lead time of a SwitchToLive with a target boundary, ms. */
export const MIN_SWITCH_LEAD_MS = 5000;
/** Longest lead time of a SwitchToLive (the call waits for the switch), ms. */
export const MAX_SWITCH_LEAD_MS = 24 * 3600 * 1000;

/** Options of {@link PlayoutService}. */
export interface PlayoutServiceOptions {
  surface: ControlSurface;
  log: Logger;
  /** String returned by GetVersion. */
  apiVersion: string;
  /** Wall clock, ms since the epoch (for the SwitchToLive lead time); `Date.now` by default. */
  now?: () => number;
}

type Wire = Record<string, unknown>;

/** A refusal, as the service reports it. */
interface Refusal {
  code: ControlErrorCode;
  message: string;
}

/** What a unary RPC handler learns while it runs (for the log line of its answer). */
interface CallContext {
  /** The request's channel id, once parsed (0 until then). */
  channel: number;
}

/** Fields every PlayoutControl response has. */
interface Outcome {
  success: boolean;
  message: string;
}

/** `LoadPreviewResponse`. */
interface LoadPreviewResponse extends Outcome {
  shadow_decode_started: boolean;
  result_code: ResultCodeName;
}

/** `SwitchToLiveResponse`. */
interface SwitchToLiveResponse extends Outcome {
  pts_contiguous: boolean;
  live_start_pts: number;
  result_code: ResultCodeName;
  switch_completion_time_ms: number;
  violation_reason: string;
}

/** `AttachStreamResponse`. */
interface AttachStreamResponse extends Outcome {
  negotiated_transport: ReturnType<typeof wireTransport> | "STREAM_TRANSPORT_UNSPECIFIED";
  negotiated_endpoint: string;
}

/** `StartBlockPlanSessionResponse`. */
interface StartBlockPlanSessionResponse extends Outcome {
  result_code: BlockPlanResultCodeName;
}

/** `FeedBlockPlanResponse`. */
interface FeedBlockPlanResponse extends StartBlockPlanSessionResponse {
  queue_full: boolean;
}

/** `StopBlockPlanSessionResponse`. */
interface StopBlockPlanSessionResponse extends Outcome {
  final_ct_ms: number;
  blocks_executed: number;
}

/** The response of each unary RPC that takes a channel (GetVersion answers at once). */
interface Responses {
  StartChannel: Outcome;
  UpdatePlan: Outcome;
  StopChannel: Outcome;
  LoadPreview: LoadPreviewResponse;
  SwitchToLive: SwitchToLiveResponse;
  AttachStream: AttachStreamResponse;
  DetachStream: Outcome;
  StartBlockPlanSession: StartBlockPlanSessionResponse;
  FeedBlockPlan: FeedBlockPlanResponse;
  StopBlockPlanSession: StopBlockPlanSessionResponse;
}

/** A unary RPC's name. */
type UnaryRpcName = keyof Responses;

/**
 * One unary RPC: parse → call → response, or a refusal. `answer` returns the successful
 * response; it throws for a refusal, which `refused` turns into the failure response.
 * Validation errors are refused with `validationCode`.
 */
interface UnaryRpc<R extends Outcome> {
  validationCode: ControlErrorCode;
  answer(request: Wire, ctx: CallContext): Promise<R>;
  refused(refusal: Refusal): R;
}

/** Every unary RPC, typed by its response. */
type RpcTable = { [K in UnaryRpcName]: UnaryRpc<Responses[K]> };

/** The failure of a response that has only `success` and `message`. */
function codedMessage(r: Refusal): Outcome {
  return { success: false, message: `${r.code}: ${r.message}` };
}

/** A success with `message` (and nothing else to say). */
function done(message = ""): Outcome {
  return { success: true, message };
}

/** The PlayoutControl implementation. */
export class PlayoutService {
  #surface: ControlSurface;
  #log: Logger;
  #apiVersion: string;
  #now: () => number;
  #streams = new Set<() => void>();
  readonly #rpcs: RpcTable;

  constructor(opts: PlayoutServiceOptions) {
    this.#surface = opts.surface;
    this.#log = opts.log;
    this.#apiVersion = opts.apiVersion;
    this.#now = opts.now ?? Date.now;
    this.#rpcs = this.#table();
  }

  /** Handlers for `Server.addService`. */
  implementation(): grpc.UntypedServiceImplementation {
    const unary = Object.fromEntries(
      (Object.keys(this.#rpcs) as UnaryRpcName[]).map((rpc) => [rpc, this.#unary(rpc)]),
    );
    return {
      ...unary,
      GetVersion: (_call: grpc.ServerUnaryCall<Wire, Wire>, callback: grpc.sendUnaryData<Wire>) =>
        callback(null, { version: this.#apiVersion }),
      SubscribeBlockEvents: (call: grpc.ServerWritableStream<Wire, Wire>) => {
        const gate = this.#settled(call.request);
        if (gate === undefined) this.#subscribeBlockEvents(call);
        else gate.then(() => call.cancelled || this.#subscribeBlockEvents(call));
      },
    };
  }

  /** Ends every open SubscribeBlockEvents stream (server shutdown). */
  close(): void {
    for (const end of [...this.#streams]) end();
  }

  /** Runs one unary RPC: its answer, or its refusal (each logged once). */
  async #answer<K extends UnaryRpcName>(rpc: K, req: Wire): Promise<Responses[K]> {
    const entry: RpcTable[K] = this.#rpcs[rpc];
    const ctx: CallContext = { channel: 0 };
    try {
      const response = await entry.answer(req, ctx);
      this.#log.info("grpc_ok", { rpc, channel: ctx.channel });
      return response;
    } catch (err) {
      return entry.refused(this.#refusal(rpc, ctx.channel, err, entry.validationCode));
    }
  }

  /** The table of unary RPCs. */
  #table(): RpcTable {
    const surface = this.#surface;
    return {
      // ---- segment mode ------------------------------------------------------------------

      StartChannel: {
        validationCode: "PROTOCOL_VIOLATION",
        answer: async (req, ctx) => {
          const args = parseStartChannel(req);
          const id = ctx.channel = args.channelId;
          const format = this.#programFormat(args.programFormatJson);
          const items = await parsePlanHandle(args.planHandle);
          try {
            await surface.startChannel(id, args.planHandle, format, items);
          } catch (err) {
            if (
              err instanceof ControlError && err.code === "ALREADY_ACTIVE" &&
              surface.get(id)?.mode === "segment"
            ) {
              return done(`channel ${id} is already running`);
            }
            throw err;
          }
          return done();
        },
        refused: codedMessage,
      },

      UpdatePlan: {
        validationCode: "PROTOCOL_VIOLATION",
        answer: async (req, ctx) => {
          const args = parseUpdatePlan(req);
          ctx.channel = args.channelId;
          const items = await parsePlanHandle(args.planHandle);
          await surface.updatePlan(args.channelId, args.planHandle, items);
          return done();
        },
        refused: codedMessage,
      },

      StopChannel: {
        validationCode: "PROTOCOL_VIOLATION",
        answer: async (req, ctx) => {
          const id = ctx.channel = parseChannelId(req);
          try {
            await surface.stopChannel(id);
          } catch (err) {
            if (err instanceof ControlError && err.code === "NOT_FOUND") {
              return done(`channel ${id} is not running`);
            }
            throw err;
          }
          return done();
        },
        refused: codedMessage,
      },

      LoadPreview: {
        validationCode: "PROTOCOL_VIOLATION",
        answer: async (req, ctx) => {
          const args = parseLoadPreview(req);
          const id = ctx.channel = args.channelId;
          checkStartedBySegment(id, surface.get(id));
          const preview = await surface.loadPreview(id, args.item);
          return {
            success: true,
            message: preview.shadowDecodeStarted
              ? ""
              : `preview loaded, but its first frame could not be decoded: ${preview.reason}`,
            shadow_decode_started: preview.shadowDecodeStarted,
            result_code: "RESULT_CODE_OK",
          };
        },
        refused: (r) => ({
          success: false,
          message: r.message,
          shadow_decode_started: false,
          result_code: resultCodeFor(r.code),
        }),
      },

      SwitchToLive: {
        validationCode: "PROTOCOL_VIOLATION",
        answer: async (req, ctx) => {
          const args = parseSwitchToLive(req);
          const id = ctx.channel = args.channelId;
          if (args.targetBoundaryTimeMs !== 0) {
            const from = args.issuedAtTimeMs !== 0 ? args.issuedAtTimeMs : this.#now();
            const lead = args.targetBoundaryTimeMs - from;
            const basis = args.issuedAtTimeMs !== 0 ? "issued_at_time_ms" : "now";
            const over = lead < MIN_SWITCH_LEAD_MS
              ? `under ${MIN_SWITCH_LEAD_MS}`
              : lead > MAX_SWITCH_LEAD_MS
              ? `over ${MAX_SWITCH_LEAD_MS}`
              : undefined;
            if (over !== undefined) {
              throw new ControlError(
                "PROTOCOL_VIOLATION",
                `lead time ${lead} ms (target_boundary_time_ms - ${basis}) is ${over} ms`,
                lead,
              );
            }
          }
          checkStartedBySegment(id, surface.get(id));
          const result = await surface.switchToLive(id, args.targetBoundaryTimeMs);
          return {
            success: true,
            message: "",
            pts_contiguous: result.ptsContiguous,
            live_start_pts: Math.max(0, Math.floor(result.livePts90k)),
            result_code: "RESULT_CODE_OK",
            switch_completion_time_ms: Math.round(result.completionUtcMs),
            violation_reason: "",
          };
        },
        refused: (r) => {
          const code = resultCodeFor(r.code);
          return {
            success: false,
            message: r.message,
            pts_contiguous: false,
            live_start_pts: 0,
            result_code: code,
            switch_completion_time_ms: 0,
            violation_reason: code === "RESULT_CODE_PROTOCOL_VIOLATION" ? r.message : "",
          };
        },
      },

      // ---- attached stream ---------------------------------------------------------------

      AttachStream: {
        validationCode: "PROTOCOL_VIOLATION",
        answer: async (req, ctx) => {
          const args = parseAttachStream(req);
          const id = ctx.channel = args.channelId;
          checkCanAttach(id, surface.get(id), args.replaceExisting);
          await surface.attachStream(id, args.transport, args.endpoint, args.replaceExisting);
          const attached = surface.get(id)?.attached ??
            { transport: args.transport, endpoint: args.endpoint };
          return {
            success: true,
            message: "",
            negotiated_transport: wireTransport(attached.transport),
            negotiated_endpoint: attached.endpoint,
          };
        },
        refused: (r) => ({
          ...codedMessage(r),
          negotiated_transport: "STREAM_TRANSPORT_UNSPECIFIED",
          negotiated_endpoint: "",
        }),
      },

      DetachStream: {
        validationCode: "PROTOCOL_VIOLATION",
        answer: async (req, ctx) => {
          const args = parseDetachStream(req);
          const id = ctx.channel = args.channelId;
          try {
            await surface.detachStream(id, args.force);
          } catch (err) {
            if (
              err instanceof ControlError &&
              (err.code === "STREAM_NOT_ATTACHED" || err.code === "NOT_FOUND")
            ) {
              return done(`channel ${id} was not attached`);
            }
            throw err;
          }
          return done();
        },
        refused: codedMessage,
      },

      // ---- block mode --------------------------------------------------------------------

      /**
       * Checks in the spec's order: session active → ALREADY_ACTIVE; no stream attached →
       * STREAM_NOT_ATTACHED; block_a.end != block_b.start → NOT_CONTIGUOUS; malformed blocks
       * (or session fields) → INVALID_BLOCK.
       */
      StartBlockPlanSession: {
        validationCode: "INVALID_BLOCK",
        answer: async (req, ctx) => {
          const id = ctx.channel = parseChannelId(req);
          checkCanStartBlockSession(id, surface.get(id));
          // On the raw times: a gap is NOT_CONTIGUOUS even when the blocks are malformed too.
          const a = rawBlockTimes(req.block_a);
          const b = rawBlockTimes(req.block_b);
          if (a !== undefined && b !== undefined) {
            checkContiguous([
              { ...a, startName: "block_a.start_utc_ms", endName: "block_a.end_utc_ms" },
              { ...b, startName: "block_b.start_utc_ms", endName: "block_b.end_utc_ms" },
            ]);
          }
          const args = parseStartBlockSession(req);
          const blockA = await parseBlockPlan(req.block_a, "block_a", id);
          const blockB = await parseBlockPlan(req.block_b, "block_b", id);
          const format = this.#programFormat(args.programFormatJson);
          let join = args.joinUtcMs;
          if (join === 0) join = blockA.startUtcMs;
          if (join < blockA.startUtcMs || join >= blockB.endUtcMs) {
            throw new WireValidationError(
              "join_utc_ms",
              join,
              `join_utc_ms ${join} is outside the blocks (${blockA.startUtcMs}..${blockB.endUtcMs})`,
            );
          }
          await surface.startBlockSession(
            id,
            [blockA, blockB],
            join,
            format,
            args.maxQueueDepth,
            args.evidenceEndpoint !== ""
              ? { endpoint: args.evidenceEndpoint, channelIdStr: args.channelIdStr }
              : undefined,
          );
          return { success: true, message: "", result_code: "BLOCKPLAN_RESULT_OK" };
        },
        refused: (r) => ({
          success: false,
          message: r.message,
          result_code: blockPlanResultCodeFor(r.code),
        }),
      },

      /** Whether the channel has a session is the engine's to say (NO_SESSION). */
      FeedBlockPlan: {
        validationCode: "INVALID_BLOCK",
        answer: async (req, ctx) => {
          const id = ctx.channel = parseChannelId(req);
          const block: BlockPlan = await parseBlockPlan(req.block, "block", id);
          await surface.feedBlock(id, block);
          return {
            success: true,
            message: "",
            result_code: "BLOCKPLAN_RESULT_OK",
            queue_full: false,
          };
        },
        refused: (r) => {
          const code: BlockPlanResultCodeName = blockPlanResultCodeFor(r.code);
          return {
            success: false,
            message: r.message,
            result_code: code,
            queue_full: code === "BLOCKPLAN_RESULT_QUEUE_FULL",
          };
        },
      },

      StopBlockPlanSession: {
        validationCode: "PROTOCOL_VIOLATION",
        answer: async (req, ctx) => {
          const args = parseStopBlockSession(req);
          const id = ctx.channel = args.channelId;
          try {
            const result = await surface.stopBlockSession(id, args.reason);
            return {
              success: true,
              message: "",
              final_ct_ms: Math.round(result.finalCtMs),
              blocks_executed: result.blocksExecuted,
            };
          } catch (err) {
            if (
              err instanceof ControlError &&
              (err.code === "NO_SESSION" || err.code === "NOT_FOUND")
            ) {
              return {
                success: true,
                message: `channel ${id} had no block session`,
                final_ct_ms: 0,
                blocks_executed: 0,
              };
            }
            throw err;
          }
        },
        refused: (r) => ({ ...codedMessage(r), final_ct_ms: 0, blocks_executed: 0 }),
      },
    };
  }

  #subscribeBlockEvents(call: grpc.ServerWritableStream<Wire, Wire>): void {
    let id: number;
    try {
      id = parseChannelId(call.request);
    } catch (err) {
      const r = this.#refusal("SubscribeBlockEvents", 0, err, "PROTOCOL_VIOLATION");
      call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: r.message });
      return;
    }
    let done = false;
    let unsubscribe: (() => void) | undefined;
    const finish = () => {
      if (done) return;
      done = true;
      this.#streams.delete(finish);
      unsubscribe?.();
      if (!call.cancelled && !call.writableEnded) call.end();
    };
    const listener = (event: BlockEvent) => {
      if (done) return;
      call.write(wireBlockEvent(id, event));
      if (event.kind === "session_ended") finish();
    };
    try {
      unsubscribe = this.#surface.subscribeBlockEvents(id, listener);
    } catch (err) {
      if (err instanceof ControlError && (err.code === "NOT_FOUND" || err.code === "NO_SESSION")) {
        done = true;
        this.#log.info("grpc_refused", {
          rpc: "SubscribeBlockEvents",
          channel: id,
          code: err.code,
          reason: err.message,
        });
        call.emit("error", {
          code: grpc.status.NOT_FOUND,
          details: `channel ${id} has no block session: ${err.message}`,
        });
        return;
      }
      const r = this.#refusal("SubscribeBlockEvents", id, err, "FAILED");
      done = true;
      call.emit("error", { code: grpc.status.INTERNAL, details: r.message });
      return;
    }
    if (done) {
      // The session ended during subscribe (the listener saw session_ended synchronously).
      unsubscribe();
      return;
    }
    this.#streams.add(finish);
    call.on("cancelled", finish);
    this.#log.info("grpc_ok", { rpc: "SubscribeBlockEvents", channel: id });
  }

  // ---- shared ----------------------------------------------------------------------------

  #programFormat(json: string | undefined): ProgramFormat | undefined {
    return json === undefined ? undefined : parseProgramFormatJson(json);
  }

  /**
   * Classifies a failure: validation errors get `validationCode`, engine refusals keep their
   * code, anything else is FAILED and logged as an error.
   */
  #refusal(rpc: string, id: number, err: unknown, validationCode: ControlErrorCode): Refusal {
    let r: Refusal;
    if (err instanceof ControlError) {
      r = { code: err.code, message: err.message };
    } else if (err instanceof WireValidationError || err instanceof PlanHandleError) {
      r = { code: validationCode, message: err.message };
    } else if (err instanceof ProgramFormatJsonError) {
      const field = err.field === "" ? "program_format_json" : `program_format_json.${err.field}`;
      const detail = err.field === "" ? err.message : err.message.slice(err.field.length + 1);
      r = { code: validationCode, message: `${field} ${detail}` };
    } else {
      this.#log.error("grpc_engine_error", { rpc, channel: id, error: err });
      return { code: "FAILED", message: `internal error: ${(err as Error)?.message ?? err}` };
    }
    this.#log.warn("grpc_refused", { rpc, channel: id, code: r.code, reason: r.message });
    return r;
  }

  /**
   * Undefined when a call may go ahead at once, else what it waits for: the restore of its
   * channel's stored plan (GetVersion and calls for other channels never wait).
   */
  #settled(request: Wire): Promise<void> | undefined {
    const id = request?.channel_id;
    if (typeof id !== "number" || this.#surface.settled === undefined) return undefined;
    return this.#surface.settled(id);
  }

  #unary<K extends UnaryRpcName>(rpc: K): grpc.handleUnaryCall<Wire, Responses[K]> {
    return (call, callback) => {
      const gate = this.#settled(call.request);
      const answer = () => this.#answer(rpc, call.request);
      (gate === undefined ? answer() : gate.then(answer)).then(
        (response) => callback(null, response),
        (err) => {
          // #answer answers every refusal itself; reaching here is a bug in this module.
          this.#log.error("grpc_handler_failed", { rpc, error: err });
          callback({ code: grpc.status.INTERNAL, details: String((err as Error)?.message ?? err) });
        },
      );
    };
  }
}

/** The wire `BlockEvent` of an engine event. */
export function wireBlockEvent(channelId: number, event: BlockEvent): Wire {
  switch (event.kind) {
    case "block_started":
      return {
        channel_id: channelId,
        block_started: {
          block_id: event.blockId,
          block_start_utc_ms: event.blockStartUtcMs,
          block_end_utc_ms: event.blockEndUtcMs,
        },
      };
    case "block_completed":
      return {
        channel_id: channelId,
        block_completed: {
          block_id: event.blockId,
          block_start_utc_ms: event.blockStartUtcMs,
          block_end_utc_ms: event.blockEndUtcMs,
          final_ct_ms: Math.round(event.finalCtMs),
          blocks_executed_total: event.blocksExecutedTotal,
        },
      };
    case "session_ended":
      return {
        channel_id: channelId,
        session_ended: {
          reason: event.reason,
          final_ct_ms: Math.round(event.finalCtMs),
          blocks_executed_total: event.blocksExecutedTotal,
        },
      };
  }
}
