import type { Queue, QueueEvents } from 'bullmq';
import { decisionJobId, DecisionSchema, type Decision } from '../domain/contract.js';
import { ApprovalCancelledError, DecisionMismatchError, DecisionTimeoutError, RedisUnavailableError, UntrustedDecisionError } from './errors.js';
import { withTimeout } from '../ops/with-timeout.js';
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
  /** Each read (the decision job, the approval's state, opening the events) that has not answered within this (ms) counts as unanswered. */
  readTimeoutMs: number;
  /** Give up with a {@link RedisUnavailableError} once no read has been answered for this long (ms); undefined: wait through any outage. */
  maxRedisSilenceMs: number | undefined;
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
 * Every read has a deadline (`readTimeoutMs`), so a Redis that stops answering cannot hold the wait
 * beyond `timeoutMs` or `maxRedisSilenceMs`.
 * @throws DecisionTimeoutError after `timeoutMs`; ApprovalCancelledError once it is cancelled; the signal's reason when aborted;
 *   RedisUnavailableError when no read was answered for `maxRedisSilenceMs`, or at `timeoutMs` while Redis does not answer (a read
 *   out at `timeoutMs` is waited for, so the wait may end up to `readTimeoutMs` later);
 *   UntrustedDecisionError when the job found is not a decision (signed by a given key);
 *   DecisionMismatchError when it is for another run or step, another job hash or another policy snapshot.
 */
export async function waitForDecision(deps: WaiterDeps, step: AwaitedRequest, options: WaitOptions = {}): Promise<Decision> {
  options.signal?.throwIfAborted();
  const jobId = decisionJobId(step.approvalId);
  const read = <T>(work: Promise<T>, what: string) => withTimeout(work, deps.readTimeoutMs, `Redis did not answer ${what} within ${deps.readTimeoutMs} ms`);
  return new Promise<Decision>((resolve, reject) => {
    let done = false;
    let looking: Promise<void> | undefined;
    let lookAgain = false;
    let events: QueueEvents | undefined;
    // When Redis last answered a read (ms), and whether the latest read went unanswered.
    let answeredAt = Date.now();
    let silent = false;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      events?.off('added', onEvent);
      events?.off('waiting', onEvent);
      clearInterval(poll);
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      settle();
    };
    const answered = () => {
      answeredAt = Date.now();
      silent = false;
    };
    const unanswered = () => {
      silent = true;
      const silentMs = Date.now() - answeredAt;
      if (deps.maxRedisSilenceMs !== undefined && silentMs >= deps.maxRedisSilenceMs) finish(() => reject(new RedisUnavailableError(step.run_id, step.step_id, silentMs)));
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
          const job = await read(deps.resume.getJob(jobId), 'the read of the decision job');
          answered();
          if (job) return finish(() => settleWith(job.data));
        } while (lookAgain && !done);
        // A cancelled approval gets no decision: say so rather than wait for nothing.
        const reason = await read(deps.cancelled(step.approvalId), "the read of the approval's state");
        answered();
        if (reason !== undefined) finish(() => reject(new ApprovalCancelledError(step.run_id, step.step_id, reason)));
      })()
        .catch(unanswered) // Redis unreachable or silent for a moment: the next poll looks again
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
    const timedOut = () =>
      finish(() => reject(silent ? new RedisUnavailableError(step.run_id, step.step_id, Date.now() - answeredAt) : new DecisionTimeoutError(step.run_id, step.step_id, options.timeoutMs!)));
    // "No decision in time" is said only after a read that answered: a read still out is waited for (up to its deadline).
    const onTimeout = () => (looking ? void looking.finally(timedOut) : timedOut());
    // Events only wake the waiter sooner: polls find the decision without them, so a connection that
    // opens late (or never, on a silent Redis) delays nothing but the wake-up.
    read(deps.events(), 'the opening of the resume queue events').then(
      (opened) => {
        if (done) return;
        events = opened;
        events.on('added', onEvent);
        events.on('waiting', onEvent);
        look(); // a decision added before the listeners is seen
      },
      unanswered,
    );
    const poll = setInterval(look, deps.pollIntervalMs);
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(onTimeout, options.timeoutMs);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    look();
  });
}
