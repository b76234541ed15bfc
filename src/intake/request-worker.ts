import { setTimeout as delay } from 'node:timers/promises';
import { DelayedError, UnrecoverableError, type Job, type Worker } from 'bullmq';
import { awaitTurn, retryLater } from './send-turn.js';
import { postMessagePace, UPDATE_PACE } from '../ops/slack-pace.js';
import { callInTurn, holdForRateLimit } from '../store/send-turns.js';
import { BoundedWorker } from './bounded-worker.js';
import { createApproval, type Approval, type CardLocation } from '../domain/approval.js';
import { cardContext, renderRequestCard, renderSupersededCard } from '../views/cards.js';
import { approvalIdOf, CANCEL_JOB_NAME, normalizeHash, parseRequest, POLICY_JOB_NAME, REQUEST_JOB_NAME, type Decision } from '../domain/contract.js';
import { enqueueOrder, type EnqueueOrder } from '../domain/enqueue-order.js';
import { cardTargets, findPostedCard, type CardTarget } from './find-posted-card.js';
import { processCancel, processPolicy, refuseFutureDated } from './lifecycle.js';
import type { Logger } from '../ops/logger.js';
import { expiresAt, matchRoute, type Route } from '../domain/routes.js';
import { backoffMs, classifySlackError } from '../ops/slack-errors.js';
import type { Claim, SupersededCard } from '../store/store.js';
import type { IntakeDeps } from './deps.js';

/**
 * The request worker: validate → store → render → post → save the card's ts.
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

/**
 * After this many failed Slack attempts (≈15 min with backoff) the request fails with the last error.
 * Rate limits (429) are not failures and are not counted: the request waits its turn, however long.
 */
export const MAX_POST_FAILURES = 20;

// Marking a replaced card superseded waits this long (ms) at most for a chat.update turn; past it,
// the card stays as it is (its buttons decide nothing) and a later delivery of the request marks it.
const MAX_UPDATE_WAIT_MS = 10_000;

// While another delivery of the same request holds the post lease, check back this often, for up
// to one lease period, before handing the job back to the queue.
const BUSY_RECHECK_MS = 250;

type PostedResult = { outcome: 'posted' | 'duplicate' | 'recovered'; channel: string; ts: string };
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
    await refuseFutureDated(deps, log, job, 'request');
    const candidate = createApproval(request, deps.now?.() ?? Date.now());
    const claim = await claimWhenFree(deps, candidate, enqueueOrder(job), expiresAt(route, request, candidate.createdAt));
    switch (claim.kind) {
      case 'posted': {
        log.info({ outcome: 'duplicate', ...claim.card }, 'card already posted for this approval');
        // A crash may have come between posting this card and marking the one it replaced.
        if (claim.superseded) await markSuperseded(deps, log, claim.superseded, claim.card);
        // Scheduling is idempotent: this covers a crash between saving the card and scheduling.
        const record = await deps.store.load(approvalIdOf(request));
        if (record) {
          await deps.timers.schedule(record, route);
          await deps.notices.posted(record);
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
      case 'claimed': {
        // Only the delivery that will post takes a turn, right after its claim (claims are taken in
        // the order jobs are fetched); while it waits far off, another delivery may claim.
        const keepsLooking = claim.ambiguous;
        await awaitTurn(deps.turns, postMessagePace(targets[0]!.channel), job, token, log, () =>
          deps.store.releaseAfterFailure(claim.approval.id, claim.lease, !keepsLooking, false),
        );
        const attempt = { deps, log: log.child({ route: route.name }), job, token, approval: claim.approval, lease: claim.lease, route, ambiguous: claim.ambiguous };
        const posted = await postCard(attempt, targets);
        if (posted.outcome === 'superseded') return posted;
        await deps.timers.schedule(claim.approval, route);
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

/**
 * Marks a replaced request's card as superseded, pointing to the new one; its buttons already decide
 * nothing. Until this is done the approval remembers the old card, so a delivery of the request after
 * a crash does it.
 */
async function markSuperseded(deps: IntakeDeps, log: Logger, old: SupersededCard, newer: CardLocation): Promise<void> {
  try {
    await callInTurn(deps.turns, UPDATE_PACE, `supersede:${old.approval.id}`, { maxWaitMs: MAX_UPDATE_WAIT_MS, log }, () =>
      deps.slack.chat.update({ channel: old.card.channel, ts: old.card.ts, ...renderSupersededCard(old.approval, newer) }),
    );
    log.info({ outcome: 'superseded', old_ts: old.card.ts, ...newer }, 'older card marked superseded');
  } catch (err) {
    if (classifySlackError(err).kind !== 'permanent') {
      log.warn({ err: String(err), ...old.card }, 'could not mark the older card superseded yet; clicks on it still decide nothing');
      return;
    }
    log.warn({ err: String(err), ...old.card }, 'Slack will not update the older card (deleted?); clicks on it still decide nothing');
  }
  await deps.store.clearSuperseded(old.approval.id);
}

/** Claims the card; while a concurrent delivery of the same request holds it, waits for that one to finish. */
async function claimWhenFree(deps: IntakeDeps, candidate: Approval, version: EnqueueOrder, expiry: number | undefined): Promise<Claim> {
  const deadline = Date.now() + deps.store.leaseMs;
  for (;;) {
    const claim = await deps.store.claimCard(candidate, version, expiry);
    if (claim.kind !== 'busy' || Date.now() >= deadline) return claim;
    await delay(Math.min(claim.retryInMs, BUSY_RECHECK_MS));
  }
}

/** One delivery's attempt at an approval's card, holding its post lease. */
interface Attempt {
  deps: IntakeDeps;
  log: Logger;
  job: Job;
  token: string | undefined;
  approval: Approval;
  lease: string;
  route: Route;
  /** An earlier attempt may have posted the card (it failed ambiguously, or crashed mid-call). */
  ambiguous: boolean;
  /** The channel of the last chat.postMessage tried, once one was. */
  channel?: string;
}

// Errors after which a route that allows it takes the card to its own channel instead.
const FALLBACK_ERRORS = new Set(['not_in_channel', 'channel_not_found', 'is_archived']);

async function postCard(attempt: Attempt, targets: CardTarget[]): Promise<PostedResult | { outcome: 'superseded' }> {
  const { deps, log, job, approval, lease, ambiguous } = attempt;
  const { store, slack } = deps;
  // The card an earlier attempt may yet post can land after this one looked for it: sweeps remove
  // it then. Scheduled before any Slack call, so a crash cannot skip them.
  if (ambiguous) await deps.timers.sweepForLateCards(approval);
  const renewal = setInterval(() => {
    store.renewLease(approval.id, lease).catch((err: unknown) => log.warn({ err: String(err) }, 'could not renew the post lease'));
  }, store.leaseMs / 3);
  let card: CardLocation;
  let outcome: PostedResult['outcome'] = 'posted';
  try {
    const found = ambiguous ? await findPostedCard(slack, deps.own, log, approval, targets) : undefined;
    if (found) {
      card = found;
      outcome = 'recovered';
    } else {
      card = await postToFirstThatTakesIt(attempt, targets);
    }
  } catch (err) {
    return await handleSlackFailure(attempt, err);
  } finally {
    clearInterval(renewal);
  }

  const now = deps.now?.() ?? Date.now();
  const saved = await store.saveCard(approval, lease, card, now);
  if (saved.kind === 'saved') {
    log.info({ outcome, ...card, latency_ms: now - job.timestamp }, outcome === 'recovered' ? 'card found after a crash and recorded' : 'card posted');
    deps.onCardPosted?.(attempt.route.name, outcome, Math.max(0, now - job.timestamp) / 1000);
    return { outcome, ...card };
  }
  // Another delivery recorded a card first (this one lost its lease mid-call), or a newer request
  // replaced this one meanwhile: keep only the card that counts.
  if (outcome === 'posted') await slack.chat.delete({ channel: card.channel, ts: card.ts });
  if (saved.kind === 'replaced') {
    log.info({ outcome: 'superseded', removed_ts: card.ts }, 'a newer request replaced this one while its card was posted; removed this card');
    return { outcome: 'superseded' };
  }
  if (saved.kind === 'missing') throw new Error(`approval ${approval.id} vanished while its card was posted; the card was removed`);
  log.warn({ outcome: 'duplicate', ...saved.card, removed_ts: card.ts }, 'another delivery recorded a card first; removed this one');
  return { outcome: 'duplicate', ...saved.card };
}

/** Posts to the first target; when the bot cannot post there and the route has a fallback, posts there with a note. */
async function postToFirstThatTakesIt(attempt: Attempt, targets: CardTarget[]): Promise<CardLocation> {
  const { deps, log, approval, route } = attempt;
  // A request bound to another snapshot than the one in force can only end as stale: the card says so.
  const inForce = await deps.store.policyInForce(deps.policySnapshotKey);
  const stale = inForce !== undefined && normalizeHash(inForce) !== normalizeHash(approval.request.policy_snapshot);
  const context = { ...cardContext(route, approval), ...(stale ? { staleUnder: inForce } : {}) };
  let refusal = '';
  for (const [index, target] of targets.entries()) {
    const note = index === 0 ? {} : { note: `Posted here because the bot could not post in <#${targets[0]!.channel}> (${refusal}). Invite the bot there to keep cards with the incident.` };
    const rendered = renderRequestCard(approval, { ...context, ...note });
    attempt.channel = target.channel;
    try {
      const response = await deps.slack.chat.postMessage({
        channel: target.channel,
        ...(target.threadTs ? { thread_ts: target.threadTs } : {}),
        ...rendered,
        unfurl_links: false,
        unfurl_media: false,
      });
      return { channel: response.channel ?? target.channel, ts: String(response.ts) };
    } catch (err) {
      const fault = classifySlackError(err);
      const next = targets[index + 1];
      if (!next || fault.kind !== 'permanent' || !FALLBACK_ERRORS.has(fault.error)) throw err;
      log.warn({ channel: target.channel, slack_error: fault.error, fallback_channel: next.channel }, 'cannot post the card where the request asked; posting to the route’s channel');
      refusal = fault.error;
    }
  }
  throw new Error('no channel to post the card to');
}

async function handleSlackFailure({ deps, log, job, token, approval, lease, ambiguous, channel }: Attempt, err: unknown): Promise<never> {
  const fault = classifySlackError(err);
  if (fault.kind === 'not_slack') {
    // Nothing was posted (the error came before Slack answered), and retrying would fail the same way.
    await deps.store.abandon(approval.id, lease);
    log.error({ outcome: 'failed', err: fault.error, stack: err instanceof Error ? err.stack : undefined }, 'the card could not be built or posted because of a bug, not Slack; not retrying');
    throw new UnrecoverableError(`could not post the card: ${fault.error} (a bug in the bot, not a Slack failure, so it is not retried: please report it with the request)`);
  }
  if (fault.kind === 'permanent') {
    await deps.store.abandon(approval.id, lease);
    log.error({ outcome: 'failed', slack_error: fault.error }, 'Slack refused the card');
    throw new UnrecoverableError(`Slack refused the card: ${fault.error} (${fault.hint})`);
  }
  // A 429 says this attempt posted nothing, not that an earlier one did not: the next keeps looking.
  const notPosted = fault.certainlyNotApplied && !ambiguous;
  if (fault.rateLimited) {
    // Waiting for Slack is not a failure, and is not counted as one.
    await deps.store.releaseAfterFailure(approval.id, lease, notPosted, false);
    if (channel === undefined) {
      // A read before the post (looking for a card an earlier attempt may have left): wait it out.
      log.debug({ slack_error: fault.error, retry_after_ms: fault.retryAfterMs }, 'Slack rate limited a read before the post; will retry');
      return retryLater(job, token, fault.retryAfterMs ?? backoffMs(1));
    }
    // The job keeps its place in the channel's turns, after the hold.
    const pace = postMessagePace(channel);
    await holdForRateLimit(deps.turns, pace, fault.retryAfterMs, log);
    await awaitTurn(deps.turns, pace, job, token, log);
    return retryLater(job, token, 0);
  }
  if (channel !== undefined) await deps.turns.drop(postMessagePace(channel), String(job.id));
  const failures = await deps.store.releaseAfterFailure(approval.id, lease, notPosted, true);
  if (failures >= MAX_POST_FAILURES) {
    log.error({ outcome: 'failed', slack_error: fault.error, failures }, 'Slack kept failing; giving up on this request');
    throw new UnrecoverableError(
      `Slack kept failing after ${failures} attempts (last: ${fault.error}); retry this job once Slack answers again`,
    );
  }
  const delayMs = fault.retryAfterMs ?? backoffMs(failures);
  log.warn({ outcome: 'retrying', slack_error: fault.error, failures, delay_ms: delayMs }, 'Slack failed; will retry');
  return retryLater(job, token, delayMs);
}

/** The run and step an invalid request says it is for, when it says so in strings: for the log. */
function claimedIds(data: unknown): { run_id?: string; step_id?: string } {
  const { run_id, step_id } = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  return { ...(typeof run_id === 'string' ? { run_id } : {}), ...(typeof step_id === 'string' ? { step_id } : {}) };
}
