import { randomBytes } from 'node:crypto';
import type { IdentityRefusal } from './identity.js';
import { approvalIdOf, normalizeHash, type ApprovalRequest, type Decision, type Vote } from './contract.js';

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
  /** The job as compact JSON, cut to {@link JOB_PREVIEW_MAX} (see {@link renderJobPreview}), for the card, View job and a typed confirmation to show. */
  jobPreview?: string;
}

/**
 * How much of the job an approval keeps to show, in characters of compact JSON (the hash binds all
 * of it; the card and View job indent it when they show it): the card shows its first lines, View
 * job and a typed confirmation the rest. Kept for every approval with a job, so at most this much
 * (plus the request) per approval in Redis.
 */
export const JOB_PREVIEW_MAX = 6000;

/** Where a card was posted. */
export interface CardLocation {
  channel: string;
  ts: string;
}

/** A new pending approval for a validated request. */
export function createApproval(request: ApprovalRequest, now: number): Approval {
  const { job, ...kept } = request;
  const jobPreview = job === undefined ? undefined : renderJobPreview(job);
  return { id: approvalIdOf(request), cardId: randomBytes(8).toString('hex'), request: kept, createdAt: now, ...(jobPreview ? { jobPreview } : {}) };
}

/**
 * The job as compact JSON (indentation is added when it is shown: stored, it would cost a quarter to
 * a half more), cut to {@link JOB_PREVIEW_MAX} characters with a note, on a line of its own, saying
 * how many were left out. Never cut inside a UTF-16 surrogate pair.
 */
export function renderJobPreview(job: unknown): string {
  const full = JSON.stringify(job);
  if (full.length <= JOB_PREVIEW_MAX) return full;
  const note = (left: number) => `\n… ${left} more characters (the job hash covers all of them)`;
  let cut = JOB_PREVIEW_MAX - note(full.length).length;
  if (/[\uDC00-\uDFFF]/.test(full[cut] ?? '')) cut -= 1;
  return full.slice(0, cut) + note(full.length - cut);
}

/**
 * Whether a typed confirmation names the approval: its step id exactly, or the first 8 hex digits of
 * its job hash (any case, `sha256:` allowed), as typed into the confirmation modal.
 */
export function typedConfirmationMatches(request: Pick<ApprovalRequest, 'step_id' | 'job_hash'>, typed: string): boolean {
  const text = typed.trim();
  if (text === request.step_id.trim()) return true;
  return /^(sha256:)?[0-9a-f]{8}$/i.test(text) && normalizeHash(text) === normalizeHash(request.job_hash).slice(0, 8);
}

/** Whether two requests for the same run and step ask for the same thing under the same policy. */
export function isSameBinding(
  a: Pick<ApprovalRequest, 'policy_snapshot' | 'job_hash'>,
  b: Pick<ApprovalRequest, 'policy_snapshot' | 'job_hash'>,
): boolean {
  return normalizeHash(a.policy_snapshot) === normalizeHash(b.policy_snapshot) && normalizeHash(a.job_hash) === normalizeHash(b.job_hash);
}

/** An approval as stored: the request, its card once posted, the approvals counted, its decision once made. */
export interface ApprovalRecord extends Approval {
  card?: CardLocation;
  /** When the card was recorded as posted (ms since the epoch). */
  postedAt?: number;
  /** Approvals counted so far, when the route needs more than one. */
  votes: Vote[];
  decision?: Decision;
  /** Set when the engine cancelled the approval: no decision is pushed. */
  cancelled?: Cancellation;
}

export interface Cancellation {
  reason: string;
  /** ISO 8601. */
  at: string;
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
  /** `id` and `team_id` from the signed payload; `name` (and `email`, when Slack gives it) from users.info. */
  user: { id: string; name: string; team_id?: string; email?: string };
  card: CardBinding;
  comment?: string;
  /** What the reviewer typed to confirm (a modal's submit on a `confirm: typed` route). */
  typed?: string;
}

/** What the approval's route says about this click. */
export interface Rules {
  /** Whether the clicker is one of the route's approvers (resolved by the caller, user groups included). */
  isApprover: boolean;
  requiredApprovals: number;
  denySelfApproval: boolean;
  /** Approving needs the step id or the job hash typed into the confirmation modal (`confirm: typed`). */
  confirmTyped: boolean;
  /** When the approval expires (ms since the epoch; see `expiresAt` in routes.ts); undefined: never. */
  expiresAt: number | undefined;
  /**
   * Approvals counted earlier that no longer stand (the caller re-checks them when this click would
   * complete the approval, see {@link votesToRecheck}): they are not counted, and the outcome says so.
   */
  dropped?: DroppedVote[];
}

/** Why an approval counted earlier no longer stands: its voter left the route's approvers, or their account no longer passes. */
export type DropReason = 'not_approver' | IdentityRefusal;

/** An approval counted earlier that no longer stands, and why. */
export interface DroppedVote {
  vote: Vote;
  reason: DropReason;
}

export type Refusal =
  | { reason: 'unauthorized' }
  | { reason: 'self_approval' }
  | { reason: 'not_found' }
  | { reason: 'stale_card' }
  | { reason: 'already_counted'; votes: Vote[]; required: number }
  | { reason: 'already_decided'; decision: Decision }
  | { reason: 'cancelled'; cancellation: Cancellation }
  | { reason: 'no_policy' }
  /** Approving on this route needs the typed confirmation: the caller opens its modal. */
  | { reason: 'confirmation_required' }
  | { reason: 'typed_mismatch' }
  | { reason: IdentityRefusal };

export type Outcome =
  | { kind: 'decided'; decision: Decision; dropped?: DroppedVote[] }
  | { kind: 'counted'; votes: Vote[]; required: number; dropped?: DroppedVote[] }
  /** The click came at or after the approval's expiry: it decides nothing, and the approval ends as expired. */
  | { kind: 'expired'; decision: Decision; expiredAt: number }
  | ({ kind: 'refused' } & Refusal);

/**
 * What a click does: decide, count an approval towards the N a route needs, or nothing (and why).
 * Pure: the record, the snapshot in force, the route's rules and the clock are the caller's, and the
 * result is recorded only if none of them changed meanwhile.
 *
 * Every rule holds at `now`: a click at or after the approval's expiry decides nothing and ends it as
 * expired (whatever the policy); a deny needs no policy snapshot (denying is always safe), an approve does.
 *
 * @param snapshotInForce the value at `POLICY_SNAPSHOT_KEY`; undefined when the key is missing.
 */
export function decide(record: ApprovalRecord | undefined, click: Click, snapshotInForce: string | undefined, rules: Rules, now: number): Outcome {
  if (!rules.isApprover) return { kind: 'refused', reason: 'unauthorized' };
  if (!record) return { kind: 'refused', reason: 'not_found' };
  if (!isCurrentCard(record, click.card)) return { kind: 'refused', reason: 'stale_card' };
  if (record.decision) return { kind: 'refused', reason: 'already_decided', decision: record.decision };
  if (record.cancelled) return { kind: 'refused', reason: 'cancelled', cancellation: record.cancelled };
  if (rules.expiresAt !== undefined && now >= rules.expiresAt) return { kind: 'expired', decision: expiredDecision(record, now), expiredAt: rules.expiresAt };
  const r = record.request;
  if (click.action === 'approve' && rules.denySelfApproval && r.initiated_by === click.user.id) return { kind: 'refused', reason: 'self_approval' };
  if (click.action === 'approve' && record.votes.some((vote) => vote.id === click.user.id)) {
    return { kind: 'refused', reason: 'already_counted', votes: record.votes, required: rules.requiredApprovals };
  }
  if (snapshotInForce === undefined && click.action === 'approve') return { kind: 'refused', reason: 'no_policy' };
  const stale = snapshotInForce !== undefined && normalizeHash(snapshotInForce) !== normalizeHash(r.policy_snapshot);
  // A stale approval is closed as stale by any click; only an approval that could pass needs the typing.
  if (click.action === 'approve' && !stale && rules.confirmTyped) {
    if (click.typed === undefined) return { kind: 'refused', reason: 'confirmation_required' };
    if (!typedConfirmationMatches(r, click.typed)) return { kind: 'refused', reason: 'typed_mismatch' };
  }
  const droppedIds = new Set((rules.dropped ?? []).map((d) => d.vote.id));
  const dropped = rules.dropped?.length ? { dropped: rules.dropped } : {};
  const standing = record.votes.filter((v) => !droppedIds.has(v.id));
  const vote = { id: click.user.id, name: click.user.name, at: new Date(now).toISOString(), ...(click.comment ? { comment: click.comment } : {}) };
  const votes = click.action === 'approve' && !stale ? [...standing, vote] : standing;
  if (click.action === 'approve' && !stale && votes.length < rules.requiredApprovals) return { kind: 'counted', votes, required: rules.requiredApprovals, ...dropped };
  const outcome = stale ? 'stale' : click.action === 'approve' ? 'approved' : 'denied';
  const decision = decisionOf(record, outcome, click.user, now, {
    ...(click.comment ? { comment: click.comment } : {}),
    ...(outcome === 'approved' ? { approvals: votes } : {}),
    ...(stale ? { policy_snapshot_in_force: snapshotInForce } : {}),
  });
  return { kind: 'decided', decision, ...(outcome === 'approved' ? dropped : {}) };
}

/**
 * The approvals counted earlier that must be re-checked before this outcome is recorded: those it
 * would complete the approval with, besides the clicker's own (checked with the click). Empty when
 * the outcome completes nothing.
 */
export function votesToRecheck(outcome: Outcome, clickerId: string): Vote[] {
  if (outcome.kind !== 'decided' || outcome.decision.decision !== 'approved') return [];
  return (outcome.decision.approvals ?? []).filter((vote) => vote.id !== clickerId);
}

/** Who ends an approval as stale when a `policy` job changes the snapshot in force. */
export const POLICY_CHANGE_ACTOR = { id: 'policy', name: 'policy change' };
/** Who ends an approval nobody decided in time. */
export const EXPIRY_ACTOR = { id: 'expiry', name: 'expiry' };

/** The expired decision for an approval still pending on the given card, or undefined. */
export function expireIfPending(record: ApprovalRecord, cardId: string, now: number): Decision | undefined {
  if (record.decision || record.cancelled || record.cardId !== cardId) return undefined;
  return expiredDecision(record, now);
}

/** The decision that ends an approval nobody decided in time, recorded at `now` (ms). */
export function expiredDecision(record: Approval, now: number): Decision {
  return decisionOf(record, 'expired', EXPIRY_ACTOR, now, {});
}

/**
 * The stale decision for a pending approval bound to another snapshot than the one now in force,
 * or undefined when it is bound to that one (or is no longer pending).
 */
export function staleUnderPolicy(record: ApprovalRecord, snapshotInForce: string, now: number): Decision | undefined {
  if (record.decision || record.cancelled) return undefined;
  if (normalizeHash(record.request.policy_snapshot) === normalizeHash(snapshotInForce)) return undefined;
  return decisionOf(record, 'stale', POLICY_CHANGE_ACTOR, now, { policy_snapshot_in_force: snapshotInForce });
}

function decisionOf(record: Approval, outcome: Decision['decision'], by: Decision['decided_by'], now: number, extras: Partial<Decision>): Decision {
  const r = record.request;
  return {
    run_id: r.run_id,
    step_id: r.step_id,
    decision: outcome,
    decided_by: by,
    decided_at: new Date(now).toISOString(),
    policy_snapshot: r.policy_snapshot,
    job_hash: r.job_hash,
    constraints: r.constraints ?? {},
    ...extras,
  };
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
