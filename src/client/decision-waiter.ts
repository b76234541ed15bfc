import type { Queue, QueueEvents } from 'bullmq';
import { decisionJobId, DecisionSchema, type Decision } from '../domain/contract.js';
import { ApprovalCancelledError, DecisionMismatchError, DecisionTimeoutError, UntrustedDecisionError } from './errors.js';
import { checkDecisionBinding, checkDecisionSignature } from './verify-decision.js';
import type { KeyObject } from 'node:crypto';

/** How to wait for one decision. */
export interface WaitOptions {
  /** Give up after this long (ms) with a {@link DecisionTimeoutError}; the approval stays pending. @defaultValue no limit */
  timeoutMs?: number;
  /** Stops waiting (rejects with the signal's reason); the approval stays pending. */
  signal?: AbortSignal;
}

export interface WaiterDeps {
  resume: Queue;
  /** Events of the resume queue, to look again as soon as a job is added. */
  events: () => Promise<QueueEvents>;
  /** Look again this often (ms) even without an event: events are not a source of truth. */
  pollIntervalMs: number;
  /** The reason the approval was cancelled, if it was (read from the bot's store on every poll). */
  cancelled: (approvalId: string) => Promise<string | undefined>;
  /** When given, only a decision signed by one of these keys is returned. */
  publicKeys: Record<string, KeyObject | string> | undefined;
}

/** The request waited on: its step, and what its decision must be bound to. */
export interface AwaitedRequest {
  run_id: string;
  step_id: string;
  approvalId: string;
  /** The request's job hash (`sha256:` hex): a decision for another job is a mismatch. */
  job_hash: string;
  /** The request's policy snapshot: a decision under another one is a mismatch. */
  policy_snapshot: string;
}

/**
 * Resolves with the decision job of an approval, read by its id (`decision-<approval id>`) with
 * Queue.getJob, so the engine's own workers on the resume queue still receive it: this only reads.
 * A decision made while nobody waited is found at once. Looks again on every `added` or `waiting`
 * event of that job id and every `pollIntervalMs`.
 * @throws DecisionTimeoutError after `timeoutMs`; ApprovalCancelledError once it is cancelled; the signal's reason when aborted;
 *   UntrustedDecisionError when the job found is not a decision (signed by a given key);
 *   DecisionMismatchError when it is for another run or step, another job hash or another policy snapshot.
 */
export async function waitForDecision(deps: WaiterDeps, step: AwaitedRequest, options: WaitOptions = {}): Promise<Decision> {
  options.signal?.throwIfAborted();
  const jobId = decisionJobId(step.approvalId);
  const events = await deps.events();
  options.signal?.throwIfAborted(); // aborted while the events connection opened
  return new Promise<Decision>((resolve, reject) => {
    let done = false;
    let looking: Promise<void> | undefined;
    let lookAgain = false;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      events.off('added', onEvent);
      events.off('waiting', onEvent);
      clearInterval(poll);
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      settle();
    };
    const look = () => {
      if (done) return;
      if (looking) {
        lookAgain = true; // an event during a read: read once more after it
        return;
      }
      looking = (async () => {
        do {
          lookAgain = false;
          const job = await deps.resume.getJob(jobId);
          if (job) return finish(() => settleWith(job.data));
        } while (lookAgain && !done);
        // A cancelled approval gets no decision: say so rather than wait for nothing.
        const reason = await deps.cancelled(step.approvalId);
        if (reason !== undefined) finish(() => reject(new ApprovalCancelledError(step.run_id, step.step_id, reason)));
      })()
        .catch(() => undefined) // Redis unreachable for a moment: the next poll looks again
        .finally(() => (looking = undefined));
    };
    const settleWith = (data: unknown) => {
      let decision: Decision;
      if (deps.publicKeys) {
        const checked = checkDecisionSignature(data, deps.publicKeys);
        if (!checked.ok) return reject(new UntrustedDecisionError(checked.reason, checked.detail));
        decision = checked.decision;
      } else {
        const parsed = DecisionSchema.safeParse(data);
        if (!parsed.success) return reject(new UntrustedDecisionError('invalid', parsed.error.message));
        decision = parsed.data;
      }
      // A signature says the gate made the decision, not that it made it for this request.
      const mismatch = checkDecisionBinding(decision, { step: { run_id: step.run_id, step_id: step.step_id }, job_hash: step.job_hash, policySnapshot: step.policy_snapshot });
      return mismatch ? reject(new DecisionMismatchError(step.run_id, step.step_id, mismatch.reason, mismatch.detail)) : resolve(decision);
    };
    const onEvent = (event: { jobId: string }) => {
      if (event.jobId === jobId) look();
    };
    const onAbort = () => finish(() => reject(options.signal!.reason));
    events.on('added', onEvent);
    events.on('waiting', onEvent);
    const poll = setInterval(look, deps.pollIntervalMs);
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => finish(() => reject(new DecisionTimeoutError(step.run_id, step.step_id, options.timeoutMs!))), options.timeoutMs);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    look(); // after the listeners: a decision added from here on is seen
  });
}
