/**
 * What the channel manager needs of the as-run evidence layer (implemented by
 * `src/evidence/hub.ts`): sessions opened for StartBlockPlanSession calls that name an
 * evidence endpoint, fed with the workers' as-run events on the main thread.
 *
 * @module
 */

import type { AsRunEvent } from "./as_run.ts";

/** Where a session's evidence goes. */
export interface EvidenceTarget {
  /** Numeric channel id of the control API. */
  channel: number;
  /** `channel_id_str` of the request; empty = the numeric id. */
  channelIdStr: string;
  /** Core's evidence endpoint, `host:port`. */
  endpoint: string;
}

/** The evidence layer as the engine sees it. */
export interface EvidenceSessions {
  /** Opens a session; resolves with its `playout_session_id`. Throws ControlError when refused. */
  open(target: EvidenceTarget): Promise<string>;
  /** An as-run event of the session, in order. Never blocks. */
  event(sessionId: string, event: AsRunEvent): void;
  /** The channel failed: the session ends with ChannelTerminated (if not already ended). */
  terminated(sessionId: string, reason: string, detail: string): void;
  /** The session's record is complete. */
  closed(sessionId: string): void;
}
