/**
 * For `wine_check.sh`: the engine's parent watch on its own (the engine itself refuses to start
 * without FFmpeg DLLs, which cannot be had here). Run by `deno.exe` under `cmd /c`; prints the
 * watch's JSON log lines and exits 0 once it has noticed that `cmd.exe` is gone.
 *
 * @module
 */

import { Logger } from "../../src/log/log.ts";
import { watchParent } from "../../src/parent_watch.ts";

const log = new Logger({ level: "info", format: "json" });
const watch = watchParent(log, () => Deno.exit(0));
if (watch === undefined) Deno.exit(1);
setInterval(() => {}, 1000); // the watch's timer is unref'd; keep the process up meanwhile
