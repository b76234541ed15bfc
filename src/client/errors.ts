/** Errors the approval client throws; each has a `code` to switch on and a message that says what to do. */

/** A request the bot would refuse: `problems` name each field, as the bot would (`reason: required`). */
export class ApprovalRequestError extends Error {
  override name = 'ApprovalRequestError';
  readonly code = 'invalid_request';
  constructor(readonly problems: string[]) {
    super(`the request is not valid: ${problems.join('; ')}`);
  }
}

/** No decision came within `timeoutMs`. The approval is not cancelled: wait again, or cancel it. */
export class DecisionTimeoutError extends Error {
  override name = 'DecisionTimeoutError';
  readonly code = 'timeout';
  constructor(
    readonly run_id: string,
    readonly step_id: string,
    readonly timeoutMs: number,
  ) {
    super(`no decision for run ${run_id}, step ${step_id} within ${timeoutMs} ms; the approval is still pending unless it was decided on another resume queue (check RESUME_QUEUE); nothing was cancelled: "approval-gate status RUN STEP" says where it stands, "request --wait" waits again`);
  }
}

/** The job on the resume queue for this step is not a decision signed by a key the client was given. */
export class UntrustedDecisionError extends Error {
  override name = 'UntrustedDecisionError';
  readonly code = 'untrusted_decision';
  constructor(
    readonly reason: 'invalid' | 'unsigned' | 'unknown_key' | 'bad_signature',
    detail: string,
  ) {
    super(`the decision on the resume queue is not the gate's (${reason}): ${detail}`);
  }
}

/** The approval was cancelled (a `cancel` job): no decision will come. */
export class ApprovalCancelledError extends Error {
  override name = 'ApprovalCancelledError';
  readonly code = 'cancelled';
  constructor(
    readonly run_id: string,
    readonly step_id: string,
    readonly reason: string,
  ) {
    super(`the approval for run ${run_id}, step ${step_id} was cancelled: ${reason}`);
  }
}

/**
 * The decision on the resume queue for this step was not made for the request waited on: another
 * job (an earlier request that reused the run and step ids, or a request that superseded this one),
 * another policy snapshot, or another step (a signed decision copied onto this step's job id).
 * Nobody approved this request: do not run it.
 */
export class DecisionMismatchError extends Error {
  override name = 'DecisionMismatchError';
  readonly code = 'decision_mismatch';
  constructor(
    readonly run_id: string,
    readonly step_id: string,
    readonly reason: 'job_mismatch' | 'policy_mismatch' | 'step_mismatch',
    detail: string,
  ) {
    super(`the decision on the resume queue for run ${run_id}, step ${step_id} was not made for this request (${reason}): ${detail}`);
  }
}

/**
 * Redis did not answer the waiter's reads (each bounded by the client's `readTimeoutMs`) for
 * `silentMs`: longer than `maxRedisSilenceMs`, or up to the wait's timeout. Nothing is known of the
 * decision then, so this is not a {@link DecisionTimeoutError}; nothing was changed or cancelled.
 */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
  readonly code = 'redis_unavailable';
  constructor(
    readonly run_id: string,
    readonly step_id: string,
    readonly silentMs: number,
  ) {
    super(
      `Redis has not answered for ${Math.round(silentMs / 1000)} s while waiting for the decision of run ${run_id}, step ${step_id}; nothing was cancelled: ` +
        `check that Redis (REDIS_URL) is up and answering, then "approval-gate status RUN STEP" says where the approval stands and "request --wait" waits again`,
    );
  }
}
