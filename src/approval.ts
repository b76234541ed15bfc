import { randomBytes } from 'node:crypto';
import { approvalIdOf, normalizeHash, type ApprovalRequest } from './contract.js';

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
