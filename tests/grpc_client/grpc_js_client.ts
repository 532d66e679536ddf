/**
 * grpc-js clients for the engine's services in tests, built from the same embedded
 * definitions the server uses (field names as in the .proto, int64 as strings, enum names).
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import {
  HEALTH_SERVICE_NAME,
  loadPlayoutProto,
  PLAYOUT_SERVICE_NAME,
  serviceDefinition,
} from "../../src/control/playout_proto.ts";

/** A wire message as proto-loader renders it. */
export type Wire = Record<string, unknown>;

/** A client of one service with untyped methods. */
export type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function makeClient(service: string, address: string): AnyClient {
  const Ctor = grpc.makeGenericClientConstructor(
    serviceDefinition(loadPlayoutProto(), service),
    service,
  );
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as AnyClient;
}

/** A PlayoutControl client (`unix:/path` or `host:port`). */
export function playoutClient(address: string): AnyClient {
  return makeClient(PLAYOUT_SERVICE_NAME, address);
}

/** A grpc.health.v1.Health client. */
export function healthClient(address: string): AnyClient {
  return makeClient(HEALTH_SERVICE_NAME, address);
}

/** A gRPC error as the client sees it. */
export interface CallError {
  code: grpc.status;
  details: string;
}

/** Calls a unary method; rejects with the gRPC error. */
export function unary(client: AnyClient, method: string, request: Wire): Promise<Wire> {
  return new Promise((resolve, reject) => {
    client[method](
      request,
      { deadline: Date.now() + 20_000 },
      (err: grpc.ServiceError | null, response: Wire) => {
        if (err) reject({ code: err.code, details: err.details } satisfies CallError);
        else resolve(response);
      },
    );
  });
}

/** Opens a server stream; collects messages until it ends, errors or `max` arrived. */
export function serverStream(
  client: AnyClient,
  method: string,
  request: Wire,
  opts: { max?: number; onMessage?: (m: Wire, call: grpc.ClientReadableStream<Wire>) => void } = {},
): {
  call: grpc.ClientReadableStream<Wire>;
  done: Promise<{ messages: Wire[]; error?: CallError }>;
} {
  const call = client[method](request, {
    deadline: Date.now() + 30_000,
  }) as grpc.ClientReadableStream<
    Wire
  >;
  const messages: Wire[] = [];
  const done = new Promise<{ messages: Wire[]; error?: CallError }>((resolve) => {
    call.on("data", (m: Wire) => {
      messages.push(m);
      opts.onMessage?.(m, call);
      if (opts.max !== undefined && messages.length >= opts.max) call.cancel();
    });
    call.on("error", (err: grpc.ServiceError) => {
      if (
        err.code === grpc.status.CANCELLED && opts.max !== undefined && messages.length >= opts.max
      ) {
        resolve({ messages });
      } else resolve({ messages, error: { code: err.code, details: err.details } });
    });
    call.on("end", () => resolve({ messages }));
  });
  return { call, done };
}
