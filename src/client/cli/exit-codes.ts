import type { Decision } from '../../domain/contract.js';

/**
 * The exit codes of `approval-gate`, documented in the README: a CI step or a hook gates a command
 * on `approval-gate request FILE --wait` exiting 0.
 */
export const EXIT = {
  /** Approved (with --wait); otherwise the command did what it was asked. */
  ok: 0,
  /** Something unexpected; the message says what. */
  error: 1,
  /** Bad arguments, or a request file that cannot be read or that the bot would refuse. */
  invalid: 2,
  /** Redis cannot be reached. */
  redis: 3,
  denied: 10,
  expired: 11,
  stale: 12,
  cancelled: 13,
  /** No decision within --timeout (the approval stays pending), or `status` of a pending approval. */
  pending: 14,
  /** The job on the resume queue is not signed by DECISION_PUBLIC_KEY_FILE's key. */
  untrusted: 15,
  /** `status` of an approval the bot has no record of. */
  unknown: 16,
  /** The decision on the resume queue for the step was made for another request (job, policy snapshot or step): nobody approved this one. */
  mismatch: 17,
} as const;

/** The exit code of a decision: 0 only for `approved`. */
export function exitCodeOf(decision: Decision['decision']): number {
  return decision === 'approved' ? EXIT.ok : EXIT[decision];
}
