/**
 * gRPC server reflection (`grpc.reflection.v1alpha.ServerReflection` and
 * `grpc.reflection.v1.ServerReflection`, which share one message layout), answering from the
 * embedded FileDescriptorProtos so generic tools can discover the API.
 *
 * Supported requests: `list_services`, `file_by_filename`, `file_containing_symbol`
 * (messages, enums, services, methods, extensions, at any nesting), `file_containing_extension`
 * and `all_extension_numbers_of_type`. File answers carry the file and its transitive
 * dependencies, the requested file first.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { Logger } from "../log/log.ts";
import type {
  DecodedField,
  DecodedFileDescriptor,
  DecodedMessage,
  PlayoutProto,
} from "./playout_proto.ts";

type Wire = Record<string, unknown>;

/** The reflection implementation. */
export class ReflectionService {
  #proto: PlayoutProto;
  #services: readonly string[];
  #log: Logger;
  /** Fully-qualified symbol (no leading dot) → file name. */
  #symbols = new Map<string, string>();
  /** `extendee#number` → file name. */
  #extensions = new Map<string, string>();
  /** extendee → extension numbers. */
  #extensionNumbers = new Map<string, number[]>();
  #streams = new Set<grpc.ServerDuplexStream<Wire, Wire>>();

  /**
   * @param proto the loaded definitions
   * @param services full names of the services the server exposes (for `list_services`)
   */
  constructor(opts: { proto: PlayoutProto; services: readonly string[]; log: Logger }) {
    this.#proto = opts.proto;
    this.#services = opts.services;
    this.#log = opts.log;
    for (const [fileName, file] of opts.proto.files) this.#index(fileName, file.descriptor);
  }

  /** Handlers for `Server.addService` (the same for v1alpha and v1). */
  implementation(): grpc.UntypedServiceImplementation {
    return {
      ServerReflectionInfo: (call: grpc.ServerDuplexStream<Wire, Wire>) => {
        this.#streams.add(call);
        call.on("data", (request: Wire) => {
          if (!call.writableEnded) call.write(this.answer(request));
        });
        call.on("end", () => {
          this.#streams.delete(call);
          if (!call.writableEnded) call.end();
        });
        call.on("cancelled", () => this.#streams.delete(call));
        call.on("error", (err: unknown) => {
          this.#streams.delete(call);
          this.#log.warn("grpc_reflection_stream_error", { error: err });
        });
      },
    };
  }

  /** Ends every open reflection stream (server shutdown). */
  close(): void {
    for (const call of this.#streams) if (!call.writableEnded) call.end();
    this.#streams.clear();
  }

  /** The response to one ServerReflectionRequest. */
  answer(request: Wire): Wire {
    const base = { valid_host: String(request.host ?? ""), original_request: request };
    const kind = request.message_request as string | undefined;
    switch (kind) {
      case "list_services":
        return {
          ...base,
          list_services_response: { service: this.#services.map((name) => ({ name })) },
        };
      case "file_by_filename":
        return this.#files(base, String(request.file_by_filename));
      case "file_containing_symbol": {
        const symbol = String(request.file_containing_symbol).replace(/^\./, "");
        const file = this.#symbols.get(symbol);
        return file === undefined
          ? notFound(base, `symbol ${symbol} not found`)
          : this.#files(base, file);
      }
      case "file_containing_extension": {
        const ext = request.file_containing_extension as Wire | null;
        const type = String(ext?.containing_type ?? "").replace(/^\./, "");
        const number = Number(ext?.extension_number ?? 0);
        const file = this.#extensions.get(`${type}#${number}`);
        return file === undefined
          ? notFound(base, `extension ${number} of ${type} not found`)
          : this.#files(base, file);
      }
      case "all_extension_numbers_of_type": {
        const type = String(request.all_extension_numbers_of_type).replace(/^\./, "");
        if (!this.#symbols.has(type)) return notFound(base, `type ${type} not found`);
        return {
          ...base,
          all_extension_numbers_response: {
            base_type_name: type,
            extension_number: this.#extensionNumbers.get(type) ?? [],
          },
        };
      }
      default:
        return {
          ...base,
          error_response: {
            error_code: grpc.status.UNIMPLEMENTED,
            error_message: `unsupported reflection request ${kind ?? "(none)"}`,
          },
        };
    }
  }

  #files(base: Wire, fileName: string): Wire {
    if (!this.#proto.files.has(fileName)) return notFound(base, `file ${fileName} not found`);
    const ordered: Uint8Array[] = [];
    const seen = new Set<string>();
    const visit = (name: string) => {
      if (seen.has(name)) return;
      seen.add(name);
      const file = this.#proto.files.get(name);
      if (file === undefined) return;
      ordered.push(file.bytes);
      for (const dep of file.descriptor.dependency) visit(dep);
    };
    visit(fileName);
    return { ...base, file_descriptor_response: { file_descriptor_proto: ordered } };
  }

  #index(fileName: string, d: DecodedFileDescriptor): void {
    const prefix = d.package ? `${d.package}.` : "";
    const add = (name: string) => this.#symbols.set(name, fileName);
    const addExtensions = (scope: string, fields: DecodedField[]) => {
      for (const f of fields) {
        add(`${scope}${f.name}`);
        const extendee = f.extendee.replace(/^\./, "");
        this.#extensions.set(`${extendee}#${f.number}`, fileName);
        const numbers = this.#extensionNumbers.get(extendee) ?? [];
        numbers.push(f.number);
        this.#extensionNumbers.set(extendee, numbers);
      }
    };
    const addMessage = (scope: string, m: DecodedMessage) => {
      const name = `${scope}${m.name}`;
      add(name);
      for (const e of m.enum_type) add(`${name}.${e.name}`);
      for (const n of m.nested_type) addMessage(`${name}.`, n);
      addExtensions(`${name}.`, m.extension);
    };
    for (const m of d.message_type) addMessage(prefix, m);
    for (const e of d.enum_type) add(`${prefix}${e.name}`);
    for (const s of d.service) {
      add(`${prefix}${s.name}`);
      for (const m of s.method) add(`${prefix}${s.name}.${m.name}`);
    }
    addExtensions(prefix, d.extension);
  }
}

function notFound(base: Wire, message: string): Wire {
  return {
    ...base,
    error_response: { error_code: grpc.status.NOT_FOUND, error_message: message },
  };
}
