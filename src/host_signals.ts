/**
 * The signals a running engine listens to, per OS. Linux: SIGTERM (systemd, Core) and SIGINT
 * stop it, SIGHUP reloads the configuration. Windows has only console events, which Deno
 * delivers as SIGINT (Ctrl+C) and SIGBREAK (Ctrl+Break, and a console window being closed);
 * both stop the engine, and there is no reload signal (restart it instead).
 *
 * @module
 */

/** What each signal does. */
export interface HostSignals {
  /** Signals that stop the engine gracefully. */
  stop: readonly Deno.Signal[];
  /** Signals that reload the configuration file. */
  reload: readonly Deno.Signal[];
}

/** The signals of `os`. */
export function hostSignals(os: typeof Deno.build.os): HostSignals {
  return os === "windows"
    ? { stop: ["SIGINT", "SIGBREAK"], reload: [] }
    : { stop: ["SIGTERM", "SIGINT"], reload: ["SIGHUP"] };
}
