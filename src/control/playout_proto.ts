/**
 * The engine's protobuf definitions, loaded with `@grpc/proto-loader` from the embedded
 * FileDescriptorSet (see `playout_proto_embedded.ts`), so no `.proto` file is read at run
 * time. Also exposes each file's serialized `FileDescriptorProto` exactly as protoc wrote it,
 * for server reflection.
 *
 * @module
 */

import * as protoLoader from "@grpc/proto-loader";
import type { PackageDefinition, ServiceDefinition } from "@grpc/proto-loader";
import { EMBEDDED_DESCRIPTOR_SET_BASE64 } from "./playout_proto_embedded.ts";

/** Full name of the playout control service. */
export const PLAYOUT_SERVICE_NAME = "retrovue.playout.PlayoutControl";
/** Full name of the standard health service. */
export const HEALTH_SERVICE_NAME = "grpc.health.v1.Health";
/** Full names of the standard reflection services (v1alpha first, as most tools ask it). */
export const REFLECTION_SERVICE_NAMES: readonly string[] = Object.freeze([
  "grpc.reflection.v1alpha.ServerReflection",
  "grpc.reflection.v1.ServerReflection",
]);

/**
 * How wire messages look in JavaScript: field names as in the .proto (snake_case), 64-bit
 * integers as decimal strings (no precision loss), enums as their names, defaults filled in.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

/** A `.proto` file as decoded from its FileDescriptorProto (the parts reflection needs). */
export interface DecodedFileDescriptor {
  name: string;
  package: string;
  dependency: string[];
  message_type: DecodedMessage[];
  enum_type: { name: string }[];
  service: { name: string; method: { name: string }[] }[];
  extension: DecodedField[];
  options: Record<string, unknown> | null;
}

/** A message type of a {@link DecodedFileDescriptor}. */
export interface DecodedMessage {
  name: string;
  nested_type: DecodedMessage[];
  enum_type: { name: string }[];
  extension: DecodedField[];
}

/** An extension field of a {@link DecodedFileDescriptor}. */
export interface DecodedField {
  name: string;
  number: number;
  extendee: string;
}

/** One `.proto` file: its decoded descriptor and its serialized bytes (as protoc wrote them). */
export interface ProtoFile {
  descriptor: DecodedFileDescriptor;
  bytes: Uint8Array;
}

/** The loaded definitions. */
export interface PlayoutProto {
  /** proto-loader's package definition (services, messages, enums by full name). */
  packageDefinition: PackageDefinition;
  /** Every file of the descriptor set, by file name, dependencies first. */
  files: ReadonlyMap<string, ProtoFile>;
  /** The `PLAYOUT_API_VERSION` file option of `retrovue/playout.proto`. */
  apiVersion: string;
}

/** The embedded descriptor set is not what this module expects. */
export class EmbeddedProtoError extends Error {
  override name = "EmbeddedProtoError";
  constructor(message: string, readonly value?: unknown) {
    super(message);
  }
}

let cached: PlayoutProto | undefined;

/** Loads (once) and returns the engine's protobuf definitions. */
export function loadPlayoutProto(): PlayoutProto {
  cached ??= decodeDescriptorSet(base64Bytes(EMBEDDED_DESCRIPTOR_SET_BASE64));
  return cached;
}

/** A service definition of the package, for `Server.addService`. */
export function serviceDefinition(proto: PlayoutProto, fullName: string): ServiceDefinition {
  const def = proto.packageDefinition[fullName];
  if (def === undefined || "format" in def) {
    throw new EmbeddedProtoError(`no service ${fullName} in the descriptor set`, fullName);
  }
  return def as ServiceDefinition;
}

/** Builds {@link PlayoutProto} from a serialized FileDescriptorSet. */
export function decodeDescriptorSet(setBytes: Uint8Array): PlayoutProto {
  // proto-loader types the buffer as Node's Buffer; a Uint8Array is what it reads.
  const packageDefinition = protoLoader.loadFileDescriptorSetFromBuffer(
    setBytes as unknown as Parameters<typeof protoLoader.loadFileDescriptorSetFromBuffer>[0],
    PROTO_LOADER_OPTIONS,
  );
  const fileProtoDef = packageDefinition["google.protobuf.FileDescriptorProto"];
  if (fileProtoDef === undefined || !("format" in fileProtoDef)) {
    throw new EmbeddedProtoError("descriptor set lacks google/protobuf/descriptor.proto");
  }
  const fileProto = fileProtoDef as protoLoader.MessageTypeDefinition<object, object>;
  const files = new Map<string, ProtoFile>();
  for (const bytes of fileDescriptorProtoBytes(setBytes)) {
    const descriptor = fileProto.deserialize(bytes as never) as DecodedFileDescriptor;
    files.set(descriptor.name, { descriptor, bytes });
  }
  const playout = files.get("retrovue/playout.proto");
  const apiVersion = playout?.descriptor.options?.[".retrovue.playout.PLAYOUT_API_VERSION"];
  if (typeof apiVersion !== "string" || apiVersion === "") {
    throw new EmbeddedProtoError("retrovue/playout.proto lacks PLAYOUT_API_VERSION", apiVersion);
  }
  return { packageDefinition, files, apiVersion };
}

function base64Bytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Splits a serialized FileDescriptorSet (`repeated FileDescriptorProto file = 1`) into the
 * files' own bytes, untouched, so reflection serves exactly what protoc produced.
 */
function fileDescriptorProtoBytes(set: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (pos >= set.length) throw new EmbeddedProtoError("truncated varint in descriptor set");
      const b = set[pos++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
  };
  while (pos < set.length) {
    const tag = varint();
    if (tag !== 0x0a) throw new EmbeddedProtoError("unexpected field in descriptor set", tag);
    const length = varint();
    if (pos + length > set.length) {
      throw new EmbeddedProtoError("truncated file in descriptor set", length);
    }
    out.push(set.subarray(pos, pos + length));
    pos += length;
  }
  return out;
}
