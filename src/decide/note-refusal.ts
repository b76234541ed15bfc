import type { ApprovalRecord } from '../domain/approval.js';
import { auditEntry, type Audit } from '../store/audit.js';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import type { Store } from '../store/store.js';
import { renderIgnoredNotice } from '../views/replies.js';

/** What became of a refusal: when its user is over the limit of refusals recorded, for how long more (s). */
export interface RefusalNote {
  ignoredForSec?: number;
}

/**
 * Every path on which a click, list button, ⋯ menu choice or modal submit decides nothing goes
 * through {@link noteRefusal}, so one throttle (REFUSAL_LIMIT, per user) bounds what any of them adds
 * to the refusals stream, and the reply says so once the user is over it ({@link withIgnoredNotice}).
 */

/**
 * What every refusal leaves besides its reply: a count in the metrics, and an audit entry when the
 * approval is known, unless the clicker has been refused too often lately (see REFUSAL_LIMIT): then
 * the note says for how long their refusals are only counted, so the reply can say so. Never fails
 * the click: an audit that cannot be written is logged.
 */
export async function noteRefusal(
  deps: { store: Store; audit: Audit; metrics: Metrics; now?: () => number },
  refusal: { reason: string; action: string; userId: string; log: Logger },
  /** The approval as read; or its id, to read it (only where Redis answered); or nothing (a button that is not ours). */
  approval: ApprovalRecord | string | undefined,
): Promise<RefusalNote> {
  deps.metrics.refusals.inc({ reason: refusal.reason, action: refusal.action });
  const record = typeof approval === 'string' ? await deps.store.load(approval).catch(() => undefined) : approval;
  if (!record) return {};
  try {
    const recorded = await deps.audit.appendRefusal(auditEntry(record, 'refused', refusal.userId, deps.now?.() ?? Date.now(), { reason: refusal.reason, action: refusal.action }));
    if (recorded.recorded) return {};
    refusal.log.info({ ignored_for_ms: recorded.ignoredForMs }, 'refusal counted, not recorded: this user was refused too often lately');
    return { ignoredForSec: Math.max(1, Math.ceil(recorded.ignoredForMs / 1000)) };
  } catch (err) {
    refusal.log.error({ err: String(err) }, 'could not append the refusal to the audit trail');
    return {};
  }
}

/** A refusal's reply, followed by the notice that further ones are ignored for a while when its user is over the limit. */
export function withIgnoredNotice(text: string, note: RefusalNote): string {
  return note.ignoredForSec ? `${text}\n${renderIgnoredNotice(note.ignoredForSec)}` : text;
}
