/**
 * The embedded proto copy cannot drift from proto/: the committed
 * src/control/playout_proto_embedded.ts must equal what the generator produces now from the
 * .proto files (texts and protoc's FileDescriptorSet), and proto-loader reading the .proto
 * files directly must see the same services, methods and message fields as the embedded copy.
 * Also checks the wire contract's binding facts (field numbers, enum values) in the loaded
 * definitions, and that a `deno bundle` of the gRPC layer serves from a directory with no
 * .proto file.
 */

import { assertEquals } from "./assert.ts";
import * as protoLoader from "@grpc/proto-loader";
import {
  embeddedModulePath,
  generateEmbeddedModule,
  PROTO_FILES,
  protoDir,
} from "../proto/generate_embedded_proto.ts";
import { EMBEDDED_PROTO_FILES } from "../src/control/playout_proto_embedded.ts";
import { loadPlayoutProto, PROTO_LOADER_OPTIONS } from "../src/control/playout_proto.ts";
import { playoutClient, unary } from "./grpc_client/grpc_js_client.ts";

Deno.test("embedded module equals a fresh generation from proto/ (texts + descriptor set)", async () => {
  const committed = await Deno.readTextFile(embeddedModulePath());
  const fresh = await generateEmbeddedModule();
  assertEquals(committed === fresh, true, "run proto/generate_embedded_proto.ts");
  for (const file of PROTO_FILES) {
    assertEquals(EMBEDDED_PROTO_FILES[file], await Deno.readTextFile(`${protoDir()}/${file}`));
  }
});

/** Services → methods → [path, request type fields, response type fields]. */
function shape(def: protoLoader.PackageDefinition): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(def)) {
    if ("format" in value) {
      const t = value.type as { field?: { name: string; number: number; type: string }[] };
      out[name] = (t.field ?? []).map((f) => `${f.number}:${f.name}:${f.type}`);
    } else {
      out[name] = Object.fromEntries(
        Object.entries(value).map(([m, d]) => [m, [d.path, d.requestStream, d.responseStream]]),
      );
    }
  }
  return out;
}

Deno.test("proto-loader on the .proto files sees what the embedded copy serves", () => {
  const fromFiles = protoLoader.loadSync(PROTO_FILES as string[], {
    ...PROTO_LOADER_OPTIONS,
    includeDirs: [protoDir()],
  });
  const embedded = loadPlayoutProto().packageDefinition;
  const ours = (def: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(def).filter(([k]) => !k.startsWith("google.")));
  assertEquals(ours(shape(fromFiles)), ours(shape(embedded)));
});

Deno.test("wire contract facts hold in the loaded definitions", () => {
  const proto = loadPlayoutProto();
  assertEquals(proto.apiVersion, "1.0.0");
  const s = shape(proto.packageDefinition);
  assertEquals(s["retrovue.playout.StartChannelRequest"], [
    "1:channel_id:TYPE_INT32",
    "2:plan_handle:TYPE_STRING",
    "3:port:TYPE_INT32",
    "10:program_format_json:TYPE_STRING",
  ]);
  assertEquals(s["retrovue.playout.BlockSegment"], [
    "1:segment_index:TYPE_INT32",
    "2:asset_uri:TYPE_STRING",
    "3:asset_start_offset_ms:TYPE_INT64",
    "4:segment_duration_ms:TYPE_INT64",
    "5:segment_type:TYPE_ENUM",
    "6:event_id:TYPE_STRING",
    "8:transition_in:TYPE_ENUM",
    "9:transition_in_duration_ms:TYPE_UINT32",
    "10:transition_out:TYPE_ENUM",
    "11:transition_out_duration_ms:TYPE_UINT32",
    "12:segment_uuid:TYPE_STRING",
    "13:asset_uuid:TYPE_STRING",
    "14:gain_db:TYPE_FLOAT",
  ]);
  assertEquals(s["retrovue.playout.StartBlockPlanSessionRequest"], [
    "1:channel_id:TYPE_INT32",
    "2:block_a:TYPE_MESSAGE",
    "3:block_b:TYPE_MESSAGE",
    "4:join_utc_ms:TYPE_INT64",
    "10:program_format_json:TYPE_STRING",
    "11:max_queue_depth:TYPE_INT32",
    "20:evidence_endpoint:TYPE_STRING",
    "21:channel_id_str:TYPE_STRING",
  ]);
  assertEquals(s["retrovue.playout.SwitchToLiveResponse"], [
    "1:success:TYPE_BOOL",
    "2:message:TYPE_STRING",
    "3:pts_contiguous:TYPE_BOOL",
    "4:live_start_pts:TYPE_UINT64",
    "5:result_code:TYPE_ENUM",
    "6:switch_completion_time_ms:TYPE_INT64",
    "7:violation_reason:TYPE_STRING",
  ]);
  const enumValues = (name: string) => {
    const def = proto.packageDefinition[name] as protoLoader.EnumTypeDefinition;
    const t = def.type as { value: { name: string; number: number }[] };
    return t.value.map((v) => `${v.number}:${v.name}`);
  };
  assertEquals(enumValues("retrovue.playout.BlockPlanResultCode"), [
    "0:BLOCKPLAN_RESULT_UNSPECIFIED",
    "1:BLOCKPLAN_RESULT_OK",
    "2:BLOCKPLAN_RESULT_INVALID_BLOCK",
    "3:BLOCKPLAN_RESULT_NOT_CONTIGUOUS",
    "4:BLOCKPLAN_RESULT_QUEUE_FULL",
    "5:BLOCKPLAN_RESULT_NO_SESSION",
    "6:BLOCKPLAN_RESULT_ALREADY_ACTIVE",
    "7:BLOCKPLAN_RESULT_STREAM_NOT_ATTACHED",
  ]);
  assertEquals(enumValues("retrovue.playout.ResultCode"), [
    "0:RESULT_CODE_UNSPECIFIED",
    "1:RESULT_CODE_OK",
    "2:RESULT_CODE_NOT_READY",
    "3:RESULT_CODE_REJECTED_BUSY",
    "4:RESULT_CODE_PROTOCOL_VIOLATION",
    "5:RESULT_CODE_FAILED",
  ]);
  assertEquals(
    Object.keys(s["retrovue.playout.PlayoutControl"] as object),
    [
      "StartChannel",
      "UpdatePlan",
      "StopChannel",
      "GetVersion",
      "LoadPreview",
      "SwitchToLive",
      "AttachStream",
      "DetachStream",
      "StartBlockPlanSession",
      "FeedBlockPlan",
      "StopBlockPlanSession",
      "SubscribeBlockEvents",
    ],
  );
});

Deno.test("evidence proto: the spec's names, numbers and types; join_in_progress has presence", () => {
  const proto = loadPlayoutProto();
  const s = shape(proto.packageDefinition);
  const p = "retrovue.evidence.v1.";
  assertEquals(s[`${p}ExecutionEvidenceService`], {
    EvidenceStream: ["/retrovue.evidence.v1.ExecutionEvidenceService/EvidenceStream", true, true],
  });
  assertEquals(s[`${p}EvidenceFromAir`], [
    "1:schema_version:TYPE_UINT32",
    "2:channel_id:TYPE_STRING",
    "3:playout_session_id:TYPE_STRING",
    "4:sequence:TYPE_UINT64",
    "5:event_uuid:TYPE_STRING",
    "6:emitted_utc:TYPE_STRING",
    "10:hello:TYPE_MESSAGE",
    "11:block_start:TYPE_MESSAGE",
    "12:segment_end:TYPE_MESSAGE",
    "13:block_fence:TYPE_MESSAGE",
    "14:channel_terminated:TYPE_MESSAGE",
    "15:segment_start:TYPE_MESSAGE",
  ]);
  assertEquals(s[`${p}EvidenceAckFromCore`], [
    "1:channel_id:TYPE_STRING",
    "2:playout_session_id:TYPE_STRING",
    "3:acked_sequence:TYPE_UINT64",
    "4:error:TYPE_STRING",
  ]);
  assertEquals(s[`${p}Hello`], [
    "1:first_sequence_available:TYPE_UINT64",
    "2:last_sequence_emitted:TYPE_UINT64",
  ]);
  assertEquals(s[`${p}BlockStart`], [
    "1:block_id:TYPE_STRING",
    "2:swap_tick:TYPE_UINT64",
    "3:fence_tick:TYPE_UINT64",
    "4:actual_start_utc_ms:TYPE_INT64",
    "5:primed_success:TYPE_BOOL",
  ]);
  assertEquals(s[`${p}SegmentStart`], [
    "1:block_id:TYPE_STRING",
    "2:event_id:TYPE_STRING",
    "3:segment_index:TYPE_INT32",
    "4:actual_start_utc_ms:TYPE_INT64",
    "5:asset_start_frame:TYPE_INT64",
    "6:scheduled_duration_ms:TYPE_INT64",
    "7:join_in_progress:TYPE_BOOL",
    "8:segment_type_name:TYPE_STRING",
    "9:asset_uri:TYPE_STRING",
    "10:segment_title:TYPE_STRING",
    "11:segment_uuid:TYPE_STRING",
    "12:asset_uuid:TYPE_STRING",
  ]);
  assertEquals(s[`${p}SegmentEnd`], [
    "1:block_id:TYPE_STRING",
    "2:event_id_ref:TYPE_STRING",
    "3:actual_start_utc_ms:TYPE_INT64",
    "4:actual_end_utc_ms:TYPE_INT64",
    "5:asset_start_frame:TYPE_INT64",
    "6:asset_end_frame:TYPE_INT64",
    "7:computed_duration_ms:TYPE_INT64",
    "8:computed_duration_frames:TYPE_INT64",
    "9:status:TYPE_STRING",
    "10:reason:TYPE_STRING",
    "11:fallback_frames_used:TYPE_UINT64",
    "12:segment_uuid:TYPE_STRING",
    "13:segment_type_name:TYPE_STRING",
    "14:asset_uuid:TYPE_STRING",
  ]);
  assertEquals(s[`${p}BlockFence`], [
    "1:block_id:TYPE_STRING",
    "2:swap_tick:TYPE_UINT64",
    "3:fence_tick:TYPE_UINT64",
    "4:actual_end_utc_ms:TYPE_INT64",
    "5:ct_at_fence_ms:TYPE_UINT64",
    "6:total_frames_emitted:TYPE_UINT64",
    "7:truncated_by_fence:TYPE_BOOL",
    "8:early_exhaustion:TYPE_BOOL",
    "9:primed_success:TYPE_BOOL",
  ]);
  assertEquals(s[`${p}ChannelTerminated`], [
    "1:termination_utc_ms:TYPE_INT64",
    "2:reason:TYPE_STRING",
    "3:detail:TYPE_STRING",
  ]);
  // Explicit presence: proto3 optional = a one-field synthetic oneof `_join_in_progress` with
  // proto3_optional (FieldDescriptorProto field 17) set, exactly as a current protoc writes it.
  const file = proto.files.get("retrovue/execution_evidence_v1.proto")!;
  assertEquals(file.descriptor.package, "retrovue.evidence.v1");
  const start = proto.packageDefinition[`${p}SegmentStart`] as protoLoader.MessageTypeDefinition<
    object,
    object
  >;
  const t = start.type as {
    field: { name: string; oneofIndex?: number }[];
    oneofDecl: { name: string }[];
  };
  const jip = t.field.find((f) => f.name === "join_in_progress")!;
  assertEquals(t.oneofDecl[jip.oneofIndex!].name, "_join_in_progress");
  const marks = countProto3OptionalMarks(file.bytes);
  assertEquals(marks, 1);
  // Every other file has none (plain proto3 fields only).
  for (const [name, f] of proto.files) {
    if (name !== "retrovue/execution_evidence_v1.proto" && name.startsWith("retrovue/")) {
      assertEquals(countProto3OptionalMarks(f.bytes), 0, name);
    }
  }
});

/** FieldDescriptorProto.proto3_optional = true is the bytes 0x88 0x01 0x01 (field 17, varint 1). */
function countProto3OptionalMarks(bytes: Uint8Array): number {
  let n = 0;
  for (let i = 0; i + 2 < bytes.length; i++) {
    if (bytes[i] === 0x88 && bytes[i + 1] === 0x01 && bytes[i + 2] === 0x01) n++;
  }
  return n;
}

Deno.test("a deno bundle of the gRPC layer serves with no .proto file beside it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grpc_bundle_test_" });
  try {
    const entry = new URL("./grpc_client/grpc_only_server.ts", import.meta.url).pathname;
    const bundled = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--platform=deno", "-o", `${dir}/playout_grpc.js`, entry],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(bundled.success, true, new TextDecoder().decode(bundled.stderr));
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "-A", `${dir}/playout_grpc.js`, "--port", "0"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    let address: string | undefined;
    while (address === undefined) {
      const { value, done } = await lines.read();
      if (done) break;
      buffered += value;
      for (const line of buffered.split("\n").slice(0, -1)) {
        const record = JSON.parse(line);
        if (record.event === "grpc_listening") address = record.addresses[0];
      }
      buffered = buffered.slice(buffered.lastIndexOf("\n") + 1);
    }
    try {
      assertEquals(typeof address, "string");
      const client = playoutClient(address!);
      assertEquals(await unary(client, "GetVersion", {}), { version: "1.0.0" });
      client.close();
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      await lines.cancel();
      await child.stderr.cancel();
      assertEquals(status.code, 0);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
