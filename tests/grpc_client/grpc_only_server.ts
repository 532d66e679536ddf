/**
 * The gRPC layer alone (over an empty in-test ControlSurface), as a process: for measuring
 * how fast the control plane answers after process start, independent of the engine.
 *
 * Usage: deno run -A tests/grpc_client/grpc_only_server.ts --port N
 *
 * @module
 */

import { startGrpcServer } from "../../src/control/grpc_server.ts";
import { Logger } from "../../src/log/log.ts";
import { FakeControlSurface } from "./fake_control_surface.ts";

const portAt = Deno.args.indexOf("--port");
const port = portAt >= 0 ? Number(Deno.args[portAt + 1]) : 0;
const log = new Logger({ level: "info" });
const server = await startGrpcServer({
  surface: new FakeControlSurface(),
  listen: { tcp: [`127.0.0.1:${port}`] },
  log,
});
const stop = () => {
  server.close().then(() => Deno.exit(0));
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
