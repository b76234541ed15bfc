import { decide, expiredDecision, votesToRecheck, type ApprovalRecord, type Click, type Outcome, type Rules } from '../domain/approval.js';
import { auditEntry, type AuditEntry } from '../store/audit.js';
import type { ClickDeps } from './deps.js';
import { assessIdentity } from '../domain/identity.js';
import { IdentityUnavailableError } from './user-directory.js';
import { expiresAt, matchRoute, requiredApprovals } from '../domain/routes.js';
import type { ClickChange, ReadForClick, RecordResult } from '../store/store.js';
import { withTimeout } from '../ops/with-timeout.js';
import { recheckVotes } from './recheck-votes.js';
import { SETTLE_LEASE_MS } from '../store/outbox.js';

/**
 * The heart of a click (a button, the /approvals list, or a modal's submit): read the approval, the
 * snapshot in force and the route's rules; decide (pure); re-check the approvals it would complete
 * with; record first-writer-wins. Every rule is checked again by the record script at the moment it
 * runs: the approval must not have expired by then, nor the caller's deadline have passed.
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

/** The caller's deadline passed before the click's change was recorded: nothing was, and nothing will be. */
export class TooLateError extends Error {
  override name = 'TooLateError';
}

export interface RecordOptions {
  /**
   * Nothing is recorded after this (ms since the epoch), by the bot's clock before the record is sent
   * and by Redis's clock when it runs: for an interaction whose answer says whether it was recorded.
   */
  notAfter?: number;
  /** Called just before a record is sent to Redis: from then on, its outcome is known only from its reply. */
  onRecording?: () => void;
  /**
   * Whether the click may be processed at all (its inbox entry confirmed): the reads start at once,
   * alongside it, but nothing is written or decided before it resolves; false throws {@link NotConfirmedError}.
   */
  confirmed?: Promise<boolean>;
  /**
   * Take the settle lease of a decision recorded, in the same step: the result's `settleToken`, which
   * the caller must hand to Outbox.settle at once (until that lease lapses, no other settler may).
   */
  takeSettleLease?: boolean;
}

/** The click's inbox entry could not be confirmed (see {@link RecordOptions.confirmed}): nothing was done, and the inbox answers. */
export class NotConfirmedError extends Error {
  override name = 'NotConfirmedError';
}

/** What a click came to, with the approval as read; `settleToken`: the settle lease taken with its decision (see Outbox.settle). */
export interface ClickResult {
  outcome: Outcome;
  record: ApprovalRecord | undefined;
  settleToken?: string;
}

/** Reads, decides (pure) and records first-writer-wins, deciding again if what was read changed in between. */
export async function decideAndRecord(deps: ClickDeps, signed: Click, options: RecordOptions = {}): Promise<ClickResult> {
  const clock = () => deps.now?.() ?? Date.now();
  const load = () => withTimeout(deps.store.loadForClick(signed.card.approvalId, deps.policySnapshotKey), READ_TIMEOUT_MS, `Redis did not answer within ${READ_TIMEOUT_MS} ms`);
  // users.info and the first read go out together; both are reads, so neither waits for the confirmation.
  const looking = withTimeout(deps.users.lookup(signed.user.id, signed.user.team_id), READ_TIMEOUT_MS, 'users.info did not answer').catch((err: unknown) => {
    throw err instanceof IdentityUnavailableError ? err : new IdentityUnavailableError(String(err));
  });
  let firstRead: Promise<ReadForClick> | undefined = load();
  firstRead.catch(() => undefined);
  looking.catch(() => undefined); // each awaited below
  if (options.confirmed && !(await options.confirmed)) throw new NotConfirmedError('the click was not confirmed in the inbox: nothing was done');
  const identity = await looking;
  // From here on the clicker's name and team are Slack's, not the payload's.
  const click: Click = { ...signed, user: { id: signed.user.id, name: identity.name, team_id: identity.teamId, ...(identity.email ? { email: identity.email } : {}) } };
  // The 'clicked' entry: appended by the record script with the change, or here when nothing is recorded.
  let clicked: AuditEntry | undefined;
  const send = async (record: ApprovalRecord, change: ClickChange, read: ReadForClick, entries: AuditEntry[], now: number, expiry: number | undefined) => {
    if (options.notAfter !== undefined && clock() > options.notAfter) throw new TooLateError(`the click was not recorded by its deadline (${new Date(options.notAfter).toISOString()})`);
    options.onRecording?.();
    const limits = { expiresAt: expiry, notAfter: options.notAfter, ...(options.takeSettleLease ? { settleLeaseMs: SETTLE_LEASE_MS } : {}), ...(clicked ? { clicked: deps.audit.clickedAppend(clicked) } : {}) };
    const result = await deps.store.recordClick(record, click.card.cardId, change, read, deps.policySnapshotKey, entries, now, limits).catch((err: unknown) => readBack(deps, click, change, now, err));
    // Appended with it, unless the script decided nothing on it (see RECORD_CLICK); after a lost reply, possibly not.
    if (result.kind !== 'changed' && result.kind !== 'too_late') clicked = undefined;
    return result;
  };
  /** Ends without a record: the 'clicked' entry (if not yet appended) goes to the audit now. */
  const refuse = async (outcome: Outcome, record: ApprovalRecord | undefined): Promise<ClickResult> => {
    if (clicked) await deps.audit.append(clicked);
    return { outcome, record };
  };
  for (let round = 1; ; round += 1) {
    const read: ReadForClick = await (firstRead ?? load());
    firstRead = undefined;
    const { record } = read;
    const now = clock();
    if (round === 1 && record) clicked = auditEntry(record, 'clicked', click.user.id, now, { action: click.action });
    const route = record ? matchRoute(deps.routes, record.request) : undefined;
    const identityRefusal = route && assessIdentity(identity, deps.homeTeamId, route);
    if (identityRefusal) return refuse({ kind: 'refused', reason: identityRefusal }, record);
    const isApprover = route
      ? await withTimeout(deps.directory.isApprover(route, click.user.id), READ_TIMEOUT_MS, `Slack did not say who the approvers are within ${READ_TIMEOUT_MS} ms`)
      : true;
    const rules: Rules = {
      isApprover,
      requiredApprovals: route ? requiredApprovals(route, record!.request) : 1,
      denySelfApproval: route?.deny_self_approval ?? true,
      confirmTyped: route?.confirm === 'typed',
      expiresAt: route ? expiresAt(route, record!.request, record!.createdAt) : undefined,
    };
    let outcome = decide(record, click, read.snapshotInForce, rules, now);
    const recheck = votesToRecheck(outcome, click.user.id);
    if (recheck.length > 0) {
      const dropped = await withTimeout(recheckVotes(deps, route!, recheck), READ_TIMEOUT_MS, `Slack did not answer the re-check of the approvals within ${READ_TIMEOUT_MS} ms`);
      if (dropped.length > 0) outcome = decide(record, click, read.snapshotInForce, { ...rules, dropped }, now);
    }
    if (outcome.kind === 'refused') return refuse(outcome, record);

    let result: RecordResult;
    if (outcome.kind === 'expired') {
      result = await send(record!, { kind: 'decision', decision: outcome.decision }, read, [expiryEntry(record!, click, now)], now, undefined);
    } else {
      const change: ClickChange = outcome.kind === 'counted' ? { kind: 'vote', votes: outcome.votes } : { kind: 'decision', decision: outcome.decision };
      result = await send(record!, change, read, auditEntriesOf(record!, click, outcome, now), now, rules.expiresAt);
      if (result.kind === 'expired') {
        // Decided before the expiry, recorded after it (by Redis's clock): the approval ends as expired.
        const at = Math.max(clock(), rules.expiresAt ?? 0);
        outcome = { kind: 'expired', decision: expiredDecision(record!, at), expiredAt: rules.expiresAt! };
        result = await send(record!, { kind: 'decision', decision: outcome.decision }, read, [expiryEntry(record!, click, at)], at, undefined);
      }
    }
    switch (result.kind) {
      case 'recorded':
        return { outcome, record, ...(result.settleToken ? { settleToken: result.settleToken } : {}) };
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
      case 'too_late':
        throw new TooLateError('Redis ran the record after the click’s deadline: nothing was recorded');
      case 'expired':
        throw new Error('the record script refused an expiry as expired: it never should');
      case 'changed':
        if (round >= MAX_DECIDE_ROUNDS) throw new Error('the policy snapshot or the approvals kept changing while the click was decided');
    }
  }
}

/** The audit entries recorded with a click's change: the change itself, and each approval that no longer stood. */
function auditEntriesOf(record: ApprovalRecord, click: Click, outcome: Exclude<Outcome, { kind: 'refused' | 'expired' }>, now: number): AuditEntry[] {
  const dropped = (outcome.dropped ?? []).map((d) => auditEntry(record, 'vote_dropped', click.user.id, now, { voter: d.vote.id, reason: d.reason }));
  if (outcome.kind === 'counted') return [...dropped, auditEntry(record, 'approval_counted', click.user.id, now, { votes: outcome.votes.length, required: outcome.required })];
  const { decision } = outcome;
  return [
    ...dropped,
    auditEntry(record, decision.decision === 'stale' ? 'stale' : 'decided', click.user.id, now, {
      decision: decision.decision,
      ...(decision.policy_snapshot_in_force ? { policy_snapshot_in_force: decision.policy_snapshot_in_force } : {}),
    }),
  ];
}

function expiryEntry(record: ApprovalRecord, click: Click, now: number): AuditEntry {
  return auditEntry(record, 'expired', 'expiry', now, { decision: 'expired', clicked_by: click.user.id, action: click.action });
}

/** After a record whose reply was lost: what Redis shows decides the outcome, never a guess. */
async function readBack(deps: ClickDeps, click: Click, change: ClickChange, now: number, cause: unknown): Promise<RecordResult> {
  let again: ReadForClick;
  try {
    again = await withTimeout(deps.store.loadForClick(click.card.approvalId, deps.policySnapshotKey), READ_TIMEOUT_MS, 'no answer');
  } catch {
    throw new UncertainOutcomeError(`recording the click failed (${String(cause)}) and the approval could not be read back`);
  }
  const at = new Date(now).toISOString();
  const decided = again.record?.decision;
  const mine = decided?.decided_by.id === click.user.id && decided.decided_at === at;
  // An expiry is the same ending whoever recorded it (this click, or the timer).
  if (change.kind === 'decision' && (mine || (change.decision.decision === 'expired' && decided?.decision === 'expired'))) return { kind: 'recorded' };
  if (change.kind === 'vote' && again.record?.votes.some((vote) => vote.id === click.user.id && vote.at === at)) return { kind: 'counted' };
  throw cause;
}
