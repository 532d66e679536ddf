/**
 * The gRPC API version this engine speaks. Placeholder until `src/control/` exports
 * `PLAYOUT_API_VERSION` from the proto file option; then this re-export is replaced.
 *
 * @module
 */

/** Version of the PlayoutControl gRPC contract (Core's `GetVersion`). */
export const PLAYOUT_API_VERSION = "1.0.0";
