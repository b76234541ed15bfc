import { setTimeout as delay } from 'node:timers/promises';
import { DelayedError, UnrecoverableError, type Job, type Worker } from 'bullmq';
import { awaitTurn, retryLater } from './send-turn.js';
import { postMessagePace } from '../ops/slack-pace.js';
import { BoundedWorker } from './bounded-worker.js';
import { createApproval, type Approval } from '../domain/approval.js';
import { approvalIdOf, CANCEL_JOB_NAME, parseRequest, POLICY_JOB_NAME, REQUEST_JOB_NAME, type Decision } from '../domain/contract.js';
import { enqueueOrder, futureDated, MAX_ENQUEUE_SKEW_MS, type EnqueueOrder } from '../domain/enqueue-order.js';
import { cardTargets } from './find-posted-card.js';
import { processCancel, processPolicy } from './lifecycle.js';
import { expiresAt, matchRoute } from '../domain/routes.js';
import { backoffMs } from '../ops/slack-errors.js';
import type { Claim } from '../store/store.js';
import { MAX_POST_FAILURES, postCard, type PostedResult } from './post-card.js';
import { markSuperseded } from './mark-superseded.js';
import type { IntakeDeps } from './deps.js';

/**
 * The request worker: validate → claim (store) → render → post → save the card's ts and its timers
 * (post-card.ts) → mark a replaced card superseded (mark-superseded.ts) → tell the requester.
 * Every delivery of a request ends with exactly one card, or fails with a reason that says why.
 * The same queue carries `cancel` and `policy` jobs from the engines (see lifecycle.ts).
 */

/** Worker lock settings that bring a request caught in a crash back within about 15 s. */
export const INTAKE_LOCK = {
  // Renewed every 5 s while the job runs; a healthy job never loses it unless the event loop
  // stalls for 10 s. A crashed worker's lock is gone at most 10 s after its last renewal…
  lockDuration: 10_000,
  // …and the next stalled check (run once per interval across all replicas) hands the job back.
  stalledInterval: 2_500,
  // A request is failed (with a reason) only after its worker crashed three times in a row.
  maxStalledCount: 2,
} as const;

/**
 * What the request queue keeps of its finished jobs, when the engine's job options do not say
 * (BullMQ's KeepJobs; an engine's own `removeOnComplete`/`removeOnFail` take precedence).
 * A finished request job holds the whole request, `job` included (about 1.4 KB for a typical one,
 * up to the 640 KiB refused at once): the approval itself lives in the store, so the queue keeps
 * completed jobs for an hour and at most 1,000 (enough to inspect recent intake, as the sandbox
 * does), and failed ones, whose reasons an engine may need, for 7 days and at most 1,000. Nothing
 * here grows with the number of approvals.
 */
export const KEEP_FINISHED_REQUESTS = {
  removeOnComplete: { age: 3_600, count: 1_000 },
  removeOnFail: { age: 7 * 86_400, count: 1_000 },
} as const;

// While another delivery of the same request holds the post lease, check back this often, for up
// to one lease period, before handing the job back to the queue.
const BUSY_RECHECK_MS = 250;

export type IntakeResult = PostedResult | { outcome: 'cancelled' | 'superseded' } | { outcome: 'already_decided'; decision: Decision['decision'] };

/** Starts the request worker. Close it with `worker.close()`. */
export function createRequestWorker(deps: IntakeDeps): Worker {
  const worker = new BoundedWorker(deps.queueName, (job, token) => processJob(deps, job, token), {
    connection: deps.connection,
    prefix: deps.queuePrefix,
    concurrency: deps.concurrency,
    ...INTAKE_LOCK,
    ...KEEP_FINISHED_REQUESTS,
  });
  worker.on('failed', (job, err) => {
    deps.log.error({ job_id: job?.id, ...claimedIds(job?.data), err: err.message }, 'request failed');
  });
  worker.on('error', (err) => deps.log.error({ err: err.message }, 'request worker error'));
  return worker;
}

async function processJob(deps: IntakeDeps, job: Job, token: string | undefined): Promise<unknown> {
  switch (job.name) {
    case REQUEST_JOB_NAME:
      return processRequest(deps, job, token);
    case CANCEL_JOB_NAME:
      return processCancel(deps, job);
    case POLICY_JOB_NAME:
      return processPolicy(deps, job);
    default:
      throw new UnrecoverableError(`unknown job name "${job.name}": this queue takes jobs named "${REQUEST_JOB_NAME}", "${CANCEL_JOB_NAME}" and "${POLICY_JOB_NAME}"`);
  }
}

async function processRequest(deps: IntakeDeps, job: Job, token: string | undefined): Promise<IntakeResult> {
  const parsed = parseRequest(job.data);
  if (!parsed.ok) {
    deps.log.warn({ job_id: job.id, ...claimedIds(job.data), outcome: 'invalid', problems: parsed.problems }, 'request rejected');
    throw new UnrecoverableError(`invalid request: ${parsed.problems.join('; ')}`);
  }
  const { request } = parsed;
  const log = deps.log.child({ job_id: job.id, run_id: request.run_id, step_id: request.step_id });
  const route = matchRoute(deps.routes, request);
  const targets = cardTargets(request, route);
  if (targets.length === 0) {
    log.warn({ outcome: 'invalid' }, 'request names no channel and APPROVALS_CHANNEL is not set');
    throw new UnrecoverableError('invalid request: channel: required, since APPROVALS_CHANNEL is not set');
  }
  try {
    const candidate = createApproval(request, deps.now?.() ?? Date.now());
    const claim = await claimWhenFree(deps, candidate, enqueueOrder(job), expiresAt(route, request, candidate.createdAt));
    switch (claim.kind) {
      case 'posted': {
        log.info({ outcome: 'duplicate', ...claim.card }, 'card already posted for this approval');
        // A crash may have come between posting this card and marking the one it replaced, or
        // telling the requester (the card's timers were set with the card, in one step).
        if (claim.superseded) await markSuperseded(deps, log, claim.superseded, claim.card);
        if (request.initiated_by) {
          const record = await deps.store.load(approvalIdOf(request));
          if (record) await deps.notices.posted(record);
        }
        return { outcome: 'duplicate', ...claim.card };
      }
      case 'cancelled':
        log.info({ outcome: 'cancelled' }, 'the engine cancelled this approval; no card');
        return { outcome: 'cancelled' };
      case 'decided':
        // The engine may have lost the decision (BullMQ removes finished jobs): push it again under its
        // job id, which adds nothing while the engine still holds it.
        await deps.outbox.deliver(candidate.id, claim.decision);
        log.info({ outcome: 'already_decided', decision: claim.decision.decision }, 'this step was decided long ago; its decision is on the resume queue again, no card');
        return { outcome: 'already_decided', decision: claim.decision.decision };
      case 'outdated':
        log.info({ outcome: 'superseded' }, 'a request enqueued later for this step is in force; this one posts nothing');
        return { outcome: 'superseded' };
      case 'conflict':
        log.warn({ outcome: 'conflict' }, 'an approval for this run and step is bound to another policy snapshot or job hash');
        throw new UnrecoverableError(
          `run ${request.run_id} step ${request.step_id} already has an approval bound to another policy_snapshot or job_hash: use a new step_id for a different action`,
        );
      case 'busy':
        return await retryLater(job, token, claim.retryInMs);
      case 'future': {
        const reason = futureDated(job, claim.redisNowMs)!;
        log.warn({ outcome: 'invalid', problems: [reason] }, 'request rejected');
        throw new UnrecoverableError(`invalid request: ${reason}`);
      }
      case 'claimed': {
        // Only the delivery that will post takes a turn, right after its claim (claims are taken in
        // the order jobs are fetched); while it waits far off, another delivery may claim.
        const keepsLooking = claim.ambiguous;
        await awaitTurn(deps.turns, postMessagePace(targets[0]!.channel), job, token, log, () =>
          deps.store.releaseAfterFailure(claim.approval.id, claim.lease, !keepsLooking, false),
        );
        const { approval, lease, ambiguous, snapshotInForce } = claim;
        const attempt = { deps, log: log.child({ route: route.name }), job, token, approval, lease, route, ambiguous, snapshotInForce };
        const posted = await postCard(attempt, targets);
        if (posted.outcome === 'superseded') return posted;
        if (claim.superseded) await markSuperseded(deps, log, claim.superseded, posted);
        await deps.notices.posted({ ...claim.approval, card: { channel: posted.channel, ts: posted.ts }, votes: [] });
        return posted;
      }
    }
  } catch (err) {
    if (err instanceof UnrecoverableError || err instanceof DelayedError) throw err;
    // Redis or an unexpected fault: come back later rather than spend the engine's attempts.
    if (job.attemptsStarted > MAX_POST_FAILURES) throw err;
    log.warn({ outcome: 'retrying', err: String(err) }, 'request hit an error, will retry');
    return await retryLater(job, token, backoffMs(job.attemptsStarted));
  }
}

/** Claims the card; while a concurrent delivery of the same request holds it, waits for that one to finish. */
async function claimWhenFree(deps: IntakeDeps, candidate: Approval, version: EnqueueOrder, expiry: number | undefined): Promise<Claim> {
  const deadline = Date.now() + deps.store.leaseMs;
  for (;;) {
    // The enqueue time is checked against Redis's clock in the same step (see refuseFutureDated).
    const claim = await deps.store.claimCard(candidate, version, expiry, { policySnapshotKey: deps.policySnapshotKey, maxAheadMs: MAX_ENQUEUE_SKEW_MS });
    if (claim.kind !== 'busy' || Date.now() >= deadline) return claim;
    await delay(Math.min(claim.retryInMs, BUSY_RECHECK_MS));
  }
}

/** The run and step an invalid request says it is for, when it says so in strings: for the log. */
function claimedIds(data: unknown): { run_id?: string; step_id?: string } {
  const { run_id, step_id } = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  return { ...(typeof run_id === 'string' ? { run_id } : {}), ...(typeof step_id === 'string' ? { step_id } : {}) };
}
