import { randomBytes } from 'node:crypto';
import { approvalIdOf, normalizeHash, type ApprovalRequest, type Decision } from './contract.js';

/**
 * The domain: one approval per (run_id, step_id), bound to the policy snapshot and job hash it
 * was requested for, shown on one card at a time.
 */
export interface Approval {
  /** Derived from run_id and step_id: see {@link approvalIdOf}. */
  id: string;
  /** A fresh nonce per card; a button click names it, so a click on an old card can be told apart. */
  cardId: string;
  /** The request as validated, without `job` (only its hash binds the approval; the engine keeps the job). */
  request: Omit<ApprovalRequest, 'job'>;
  /** When the bot first saw the request (ms since the epoch). */
  createdAt: number;
}

/** Where a card was posted. */
export interface CardLocation {
  channel: string;
  ts: string;
}

/** A new pending approval for a validated request. */
export function createApproval(request: ApprovalRequest, now: number): Approval {
  const { job: _job, ...kept } = request;
  return { id: approvalIdOf(request), cardId: randomBytes(8).toString('hex'), request: kept, createdAt: now };
}

/** Whether two requests for the same run and step ask for the same thing under the same policy. */
export function isSameBinding(
  a: Pick<ApprovalRequest, 'policy_snapshot' | 'job_hash'>,
  b: Pick<ApprovalRequest, 'policy_snapshot' | 'job_hash'>,
): boolean {
  return normalizeHash(a.policy_snapshot) === normalizeHash(b.policy_snapshot) && normalizeHash(a.job_hash) === normalizeHash(b.job_hash);
}

/** The channel a request's card goes to: the one it names, else the configured default. */
export function targetChannel(request: Pick<ApprovalRequest, 'channel'>, approvalsChannel: string | undefined): string | undefined {
  return request.channel ?? approvalsChannel;
}

/** An approval as stored: the request, its card once posted, its decision once made. */
export interface ApprovalRecord extends Approval {
  card?: CardLocation;
  decision?: Decision;
}

/** What a clicked card was bound to, as its button carries it. */
export interface CardBinding {
  approvalId: string;
  cardId: string;
  policySnapshot: string;
  jobHash: string;
}

/** A reviewer's click, as the signed Slack payload tells it. */
export interface Click {
  action: 'approve' | 'deny';
  user: { id: string; name: string };
  card: CardBinding;
  comment?: string;
}

/** Who may decide: anyone who can see the card, or the listed Slack user IDs. */
export type Approvers = { kind: 'anyone' } | { kind: 'listed'; ids: ReadonlySet<string> };

export type Refusal =
  | { reason: 'unauthorized' }
  | { reason: 'not_found' }
  | { reason: 'stale_card' }
  | { reason: 'already_decided'; decision: Decision }
  | { reason: 'no_policy' };

export type Outcome = { kind: 'decided'; decision: Decision } | ({ kind: 'refused' } & Refusal);

/**
 * The decision a click makes, or why it makes none. Pure: the record, the snapshot in force and the
 * clock are read by the caller, and the result is recorded only if nothing changed meanwhile.
 *
 * @param snapshotInForce the value at `POLICY_SNAPSHOT_KEY`; undefined when the key is missing.
 */
export function decide(record: ApprovalRecord | undefined, click: Click, snapshotInForce: string | undefined, approvers: Approvers, now: number): Outcome {
  if (approvers.kind === 'listed' && !approvers.ids.has(click.user.id)) return { kind: 'refused', reason: 'unauthorized' };
  if (!record) return { kind: 'refused', reason: 'not_found' };
  if (!isCurrentCard(record, click.card)) return { kind: 'refused', reason: 'stale_card' };
  if (record.decision) return { kind: 'refused', reason: 'already_decided', decision: record.decision };
  if (snapshotInForce === undefined) return { kind: 'refused', reason: 'no_policy' };
  const r = record.request;
  const stale = normalizeHash(snapshotInForce) !== normalizeHash(r.policy_snapshot);
  const decision: Decision = {
    run_id: r.run_id,
    step_id: r.step_id,
    decision: stale ? 'stale' : click.action === 'approve' ? 'approved' : 'denied',
    decided_by: click.user,
    decided_at: new Date(now).toISOString(),
    policy_snapshot: r.policy_snapshot,
    job_hash: r.job_hash,
    constraints: r.constraints ?? {},
    ...(click.comment ? { comment: click.comment } : {}),
    ...(stale ? { policy_snapshot_in_force: snapshotInForce } : {}),
  };
  return { kind: 'decided', decision };
}

/** Whether the clicked card is the approval's current card, bound to what the approval is bound to. */
export function isCurrentCard(record: Approval, card: CardBinding): boolean {
  return (
    card.approvalId === record.id &&
    card.cardId === record.cardId &&
    normalizeHash(card.policySnapshot) === normalizeHash(record.request.policy_snapshot) &&
    normalizeHash(card.jobHash) === normalizeHash(record.request.job_hash)
  );
}
