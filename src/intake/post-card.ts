import { UnrecoverableError, type Job } from 'bullmq';
import { awaitTurn, retryLater } from './send-turn.js';
import { postMessagePace } from '../ops/slack-pace.js';
import { dropTurn, holdForRateLimit } from '../store/send-turns.js';
import type { Approval, CardLocation } from '../domain/approval.js';
import { cardContext, renderRequestCard } from '../views/cards.js';
import { normalizeHash } from '../domain/contract.js';
import { findPostedCard, type CardTarget } from './find-posted-card.js';
import type { Logger } from '../ops/logger.js';
import type { Route } from '../domain/routes.js';
import { backoffMs, classifySlackError } from '../ops/slack-errors.js';
import { cardTimers } from './timers.js';
import type { IntakeDeps } from './deps.js';

/**
 * Posting a claimed card: look for one an earlier attempt may have left, post (falling back to the
 * route's channel when the request's will not take it), record it with its timers, and on a Slack
 * failure give the lease back and come back when it is worth trying again.
 */

/**
 * After this many failed Slack attempts (≈15 min with backoff) the request fails with the last error.
 * Rate limits (429) are not failures and are not counted: the request waits its turn, however long.
 */
export const MAX_POST_FAILURES = 20;

/** How a delivery that held the post lease ended with a card. */
export type PostedResult = { outcome: 'posted' | 'duplicate' | 'recovered'; channel: string; ts: string };

/** One delivery's attempt at an approval's card, holding its post lease. */
export interface Attempt {
  deps: IntakeDeps;
  log: Logger;
  job: Job;
  token: string | undefined;
  approval: Approval;
  lease: string;
  route: Route;
  /** An earlier attempt may have posted the card (it failed ambiguously, or crashed mid-call). */
  ambiguous: boolean;
  /** The policy snapshot in force when the card was claimed (undefined: none is set). */
  snapshotInForce: string | undefined;
  /** The channel of the last chat.postMessage tried, once one was. */
  channel?: string;
}

// Errors after which a route that allows it takes the card to its own channel instead.
const FALLBACK_ERRORS = new Set(['not_in_channel', 'channel_not_found', 'is_archived']);

/** Posts the attempt's card (or finds the one an earlier attempt left) and records it; only the card recorded first is kept. */
export async function postCard(attempt: Attempt, targets: CardTarget[]): Promise<PostedResult | { outcome: 'superseded' }> {
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
  // The card is in Slack: its turn (taken on the first target's channel) is used, and a hold for a
  // 429 that comes within its lease must not keep it as a call in flight, first after the hold.
  await dropTurn(deps.turns, postMessagePace(targets[0]!.channel), String(job.id), log);

  const now = deps.now?.() ?? Date.now();
  const saved = await store.saveCard(approval, lease, card, now, cardTimers(approval, attempt.route, now));
  if (saved.kind === 'saved') {
    log.info({ outcome, ...card, latency_ms: now - job.timestamp }, outcome === 'recovered' ? 'card found after a crash and recorded' : 'card posted');
    deps.onCardPosted?.(attempt.route.name, outcome, Math.max(0, now - job.timestamp) / 1000);
    if (saved.ended) await settleEnded(deps, log, approval.id);
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

/**
 * Shows the ending recorded while the card was posted (a cancel, a policy change) on the card just
 * saved, at once: the cancel or the decision could not update a card it did not know of yet, and the
 * outbox drain would leave its buttons up for seconds. The requester's "waiting for approval" notice
 * is claimed first and never sent: the card was never shown pending, and the ending's notice comes
 * with this settle. A failure is left to the drain.
 */
async function settleEnded(deps: IntakeDeps, log: Logger, id: string): Promise<void> {
  await deps.store.claimNotice(id, 'posted');
  const record = await deps.store.load(id);
  if (!record) return;
  log.info({ outcome: record.decision ? 'decided' : 'cancelled' }, 'the approval ended while its card was posted; updating the card');
  await deps.outbox.settle(record).catch((err: unknown) => log.warn({ err: String(err) }, 'card not yet updated; the outbox drain will update it'));
}

/** Posts to the first target; when the bot cannot post there and the route has a fallback, posts there with a note. */
async function postToFirstThatTakesIt(attempt: Attempt, targets: CardTarget[]): Promise<CardLocation> {
  const { deps, log, approval, route } = attempt;
  // A request bound to another snapshot than the one in force can only end as stale: the card says so.
  const inForce = attempt.snapshotInForce;
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
