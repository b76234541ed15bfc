import { decide, type ApprovalRecord, type Click, type Outcome } from '../domain/approval.js';
import { auditEntry } from '../store/audit.js';
import type { ClickDeps } from './deps.js';
import { assessIdentity } from '../domain/identity.js';
import { IdentityUnavailableError } from './user-directory.js';
import { matchRoute, requiredApprovals } from '../domain/routes.js';
import type { ClickChange, ReadForClick, RecordResult } from '../store/store.js';
import { withTimeout } from '../ops/with-timeout.js';

/**
 * The heart of a click (a button, the /approvals list, or a modal's submit): read the approval, the
 * snapshot in force and the route's rules; decide (pure); record first-writer-wins.
 */

// A click waits this long for Redis and Slack's user groups before it is refused (nothing decided).
const READ_TIMEOUT_MS = 5000;
// Reads and the record are separate steps; when what was read changes in between, decide again.
const MAX_DECIDE_ROUNDS = 3;

/**
 * The click's record may or may not have happened (Redis failed mid-call): never guess, never say
 * "nothing was decided" when it was. Reads the approval back; if that fails too, the outcome is unknown.
 */
export class UncertainOutcomeError extends Error {
  override name = 'UncertainOutcomeError';
}


async function readBack(deps: ClickDeps, click: Click, change: ClickChange, now: number, cause: unknown): Promise<RecordResult> {
  let again: ReadForClick;
  try {
    again = await withTimeout(deps.store.loadForClick(click.card.approvalId, deps.policySnapshotKey), READ_TIMEOUT_MS, 'no answer');
  } catch {
    throw new UncertainOutcomeError(`recording the click failed (${String(cause)}) and the approval could not be read back`);
  }
  const at = new Date(now).toISOString();
  const mine = (d: { decided_by: { id: string }; decided_at: string } | undefined) => d?.decided_by.id === click.user.id && d.decided_at === at;
  if (change.kind === 'decision' && mine(again.record?.decision)) return { kind: 'recorded' };
  if (change.kind === 'vote' && again.record?.votes.some((vote) => vote.id === click.user.id && vote.at === at)) return { kind: 'counted' };
  throw cause;
}

/** Reads, decides (pure) and records first-writer-wins, deciding again if what was read changed in between. */
export async function decideAndRecord(deps: ClickDeps, signed: Click): Promise<{ outcome: Outcome; record: ApprovalRecord | undefined }> {
  const identity = await withTimeout(deps.users.lookup(signed.user.id, signed.user.team_id), READ_TIMEOUT_MS, 'users.info did not answer').catch((err: unknown) => {
    throw err instanceof IdentityUnavailableError ? err : new IdentityUnavailableError(String(err));
  });
  // From here on the clicker's name and team are Slack's, not the payload's.
  const click: Click = { ...signed, user: { id: signed.user.id, name: identity.name, team_id: identity.teamId, ...(identity.email ? { email: identity.email } : {}) } };
  for (let round = 1; ; round += 1) {
    const read: ReadForClick = await withTimeout(
      deps.store.loadForClick(click.card.approvalId, deps.policySnapshotKey),
      READ_TIMEOUT_MS,
      `Redis did not answer within ${READ_TIMEOUT_MS} ms`,
    );
    const { record } = read;
    const now = deps.now?.() ?? Date.now();
    if (round === 1 && record) await deps.audit.append(auditEntry(record, 'clicked', click.user.id, now, { action: click.action }));
    const route = record ? matchRoute(deps.routes, record.request) : undefined;
    const identityRefusal = route && assessIdentity(identity, deps.homeTeamId, route);
    if (identityRefusal) return { outcome: { kind: 'refused', reason: identityRefusal }, record };
    const isApprover = route
      ? await withTimeout(deps.directory.isApprover(route, click.user.id), READ_TIMEOUT_MS, `Slack did not say who the approvers are within ${READ_TIMEOUT_MS} ms`)
      : true;
    const rules = { isApprover, requiredApprovals: route ? requiredApprovals(route, record!.request) : 1, denySelfApproval: route?.deny_self_approval ?? true, confirmTyped: route?.confirm === 'typed' };
    const outcome = decide(record, click, read.snapshotInForce, rules, now);
    if (outcome.kind === 'refused') return { outcome, record };
    const change = outcome.kind === 'counted' ? { kind: 'vote' as const, votes: outcome.votes } : { kind: 'decision' as const, decision: outcome.decision };
    const entry =
      outcome.kind === 'counted'
        ? auditEntry(record!, 'approval_counted', click.user.id, now, { votes: outcome.votes.length, required: outcome.required })
        : auditEntry(record!, outcome.decision.decision === 'stale' ? 'stale' : 'decided', click.user.id, now, {
            decision: outcome.decision.decision,
            ...(outcome.decision.policy_snapshot_in_force ? { policy_snapshot_in_force: outcome.decision.policy_snapshot_in_force } : {}),
          });
    const result = await deps.store
      .recordClick(record!, click.card.cardId, change, read, deps.policySnapshotKey, entry, now)
      .catch((err: unknown) => readBack(deps, click, change, now, err));
    switch (result.kind) {
      case 'recorded':
      case 'counted':
        return { outcome, record };
      case 'decided':
        return { outcome: { kind: 'refused', reason: 'already_decided', decision: result.decision }, record };
      case 'cancelled':
        return { outcome: { kind: 'refused', reason: 'cancelled', cancellation: result.cancellation }, record };
      case 'superseded':
        return { outcome: { kind: 'refused', reason: 'stale_card' }, record };
      case 'missing':
        return { outcome: { kind: 'refused', reason: 'not_found' }, record: undefined };
      case 'changed':
        if (round >= MAX_DECIDE_ROUNDS) throw new Error('the policy snapshot or the approvals kept changing while the click was decided');
    }
  }
}

