import type { ApprovalRecord } from '../domain/approval.js';
import { auditEntry, type Audit } from '../store/audit.js';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import type { Store } from '../store/store.js';

/**
 * What every refusal leaves besides its reply: a count in the metrics, and an audit entry when the
 * approval is known. Never fails the click: an audit that cannot be written is logged.
 */
export async function noteRefusal(
  deps: { store: Store; audit: Audit; metrics: Metrics; now?: () => number },
  refusal: { reason: string; action: string; userId: string; log: Logger },
  /** The approval as read; or its id, to read it (only where Redis answered); or nothing (a button that is not ours). */
  approval: ApprovalRecord | string | undefined,
): Promise<void> {
  deps.metrics.refusals.inc({ reason: refusal.reason, action: refusal.action });
  const record = typeof approval === 'string' ? await deps.store.load(approval).catch(() => undefined) : approval;
  if (!record) return;
  await deps.audit
    .append(auditEntry(record, 'refused', refusal.userId, deps.now?.() ?? Date.now(), { reason: refusal.reason, action: refusal.action }))
    .catch((err: unknown) => refusal.log.error({ err: String(err) }, 'could not append the refusal to the audit trail'));
}
