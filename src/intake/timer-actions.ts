import { EXPIRY_ACTOR, expireIfPending, type ApprovalRecord, type CardLocation } from '../domain/approval.js';
import { auditEntry } from '../store/audit.js';
import { ESCALATION_EVENT_TYPE, renderEscalation, renderReminder } from '../views/cards.js';
import type { Logger } from '../ops/logger.js';
import { escalateAt, expiresAt, matchRoute, nextReminderAt, requiredApprovals, type Route } from '../domain/routes.js';
import { cardTargets, removeDuplicateCards } from './find-posted-card.js';
import { callInTurn } from '../store/send-turns.js';
import { postMessagePace } from '../ops/slack-pace.js';
import { classifySlackError } from '../ops/slack-errors.js';
import { findEscalation } from './find-escalation.js';
import type { WebClient } from '@slack/web-api';
import type { Outbox } from '../store/outbox.js';
import type { Store } from '../store/store.js';
import type { BotIdentity } from './find-posted-card.js';
import type { SendTurns } from '../store/send-turns.js';
import type { DueTimes } from '../store/due-times.js';

/**
 * What each timer does once due, read from the approval as it is now. Each returns when it is next
 * due (ms since the epoch), or undefined when it is done.
 */

/** What the timers are given by the composition root. */
export interface TimerDeps {
  /** The due set the sweep claims from (under STATE_PREFIX). */
  due: DueTimes;
  routes: Route[];
  store: Store;
  outbox: Outbox;
  slack: WebClient;
  /** This bot, as auth.test said at start-up: only its own messages are taken for its cards. */
  own: BotIdentity;
  /** Reminders and escalations go in the card's channel, in its turns (Slack's per-channel pace). */
  turns: SendTurns;
  policySnapshotKey: string;
  log: Logger;
  /** Told of each escalation posted, with the route's name (for the metrics). */
  onEscalated?: (route: string) => void;
  now?: () => number;
}

// A reminder or an escalation waits this long (ms) at most for its turn in the card's channel before trying again later.
const TURN_MAX_WAIT_MS = 30_000;

/**
 * How long (ms) a claimed escalation is held before another sweep may take it: longer than a post
 * can take (its turn, then Slack's 10 s timeout); a bot that dies mid-post leaves it this long.
 */
export const ESCALATION_LEASE_MS = 90_000;

/**
 * Ends a pending approval as expired once its expiry has come (by this process's clock: earlier,
 * it is due again then). Needs nothing but the approval: not the policy snapshot (an expiry stands
 * under any policy, or none), not the votes (approvals counted so far change nothing).
 */
export async function expire(deps: TimerDeps, id: string, now: number): Promise<number | undefined> {
  const read = await deps.store.loadForClick(id, deps.policySnapshotKey);
  const record = read.record;
  if (!record) return undefined;
  const expiry = expiresAt(matchRoute(deps.routes, record.request), record.request, record.createdAt);
  if (expiry === undefined || record.decision || record.cancelled) return undefined;
  if (now < expiry) return expiry;
  const decision = expireIfPending(record, record.cardId, now)!;
  const entry = auditEntry(record, 'expired', EXPIRY_ACTOR.id, now, { decision: 'expired' });
  const result = await deps.store.recordClick(record, record.cardId, { kind: 'decision', decision }, read, deps.policySnapshotKey, entry, now);
  if (result.kind !== 'recorded') return undefined;
  const log = deps.log.child({ run_id: record.request.run_id, step_id: record.request.step_id, timer: 'expire' });
  log.info({ outcome: 'expired' }, 'approval expired');
  await deps.outbox.settle({ ...record, decision }).catch((err: unknown) => log.warn({ err: String(err) }, 'expiry not yet settled; the outbox drain will finish it'));
  return undefined;
}

/**
 * Deletes duplicates of the recorded card. Before a card is recorded there is nothing to keep: the
 * attempt still posting looks for a card itself, and the next sweep comes later.
 */
export async function sweepLateCards(deps: TimerDeps, record: ApprovalRecord): Promise<undefined> {
  if (!record.card) return undefined;
  const log = deps.log.child({ run_id: record.request.run_id, step_id: record.request.step_id, timer: 'sweep' });
  const targets = cardTargets(record.request, matchRoute(deps.routes, record.request));
  await removeDuplicateCards(deps.slack, deps.own, log, { ...record, card: record.card }, targets);
  return undefined;
}

/**
 * A reply in the card's thread naming the approvers who have not acted yet; deleted if the approval
 * ended meanwhile. @returns when the next reminder is due.
 */
export async function remind(deps: TimerDeps, record: ApprovalRecord, now: number): Promise<number | undefined> {
  const card = record.card;
  if (!card) return undefined;
  const log = deps.log.child({ run_id: record.request.run_id, step_id: record.request.step_id, timer: 'remind' });
  const route = matchRoute(deps.routes, record.request);
  const voted = new Set(record.votes.map((vote) => vote.id));
  const people = route.approvers === 'anyone' ? (route.mention ?? []) : route.approvers.filter((id) => !voted.has(id));
  const expiry = expiresAt(route, record.request, record.createdAt);
  const required = requiredApprovals(route, record.request);
  // A turn too far off, or a 429, fails this try; the timer comes back for it.
  const posted = await callInTurn(deps.turns, postMessagePace(card.channel), `remind:${record.id}`, { maxWaitMs: TURN_MAX_WAIT_MS, log }, () =>
    deps.slack.chat.postMessage({
      channel: card.channel,
      thread_ts: card.ts,
      text: renderReminder({ waitingFor: people, votes: record.votes.length, required, ...(expiry !== undefined ? { expiresAt: expiry } : {}) }),
      unfurl_links: false,
    }),
  );
  // Slack may carry out the post late: an approval decided (or cancelled, or replaced) meanwhile
  // must not be left with a reminder below its outcome saying it still waits.
  const later = await deps.store.load(record.id);
  if (!later || later.cardId !== record.cardId || later.decision || later.cancelled) {
    if (posted.ts) await deps.slack.chat.delete({ channel: posted.channel ?? card.channel, ts: posted.ts });
    log.info({ outcome: 'ended meanwhile' }, 'the approval ended while its reminder was posted; reminder deleted');
    return undefined;
  }
  log.info({ outcome: 'reminded', mentioned: people.length }, 'reminder posted');
  return nextReminderAt(route, record.createdAt, expiry, now);
}

/**
 * Mentions the route's `escalate_to` once in the card's thread, in the channel's send turn (a channel
 * held for Slack's Retry-After waits, as for cards and reminders). The claim re-reads the approval in
 * the same Redis step (decided or cancelled meanwhile: nothing is posted) and is a lease
 * ({@link ESCALATION_LEASE_MS}) held by one caller across replicas; a post that fails ends it at once,
 * a bot that dies mid-post leaves it to end, and the next caller takes it as `reclaimed`: it first
 * looks in the card's thread for the escalation (by its metadata, the bot's own messages only) that
 * the earlier post may have left when Slack carried it out, and posts nothing if it is there.
 * What holds: one escalation, except that a second is possible when Slack carries a post out only
 * after the retry has looked (a call that timed out), or when the bot may not read the thread (a
 * warning says so). @returns when to look again while another caller holds the claim.
 */
export async function escalate(deps: TimerDeps, record: ApprovalRecord, now: number): Promise<number | undefined> {
  const route = matchRoute(deps.routes, record.request);
  const card = record.card;
  const at = escalateAt(route, record.createdAt);
  if (!card || !route.escalate_to?.length || at === undefined) return undefined;
  if (now < at) return at;
  const claim = await deps.store.claimEscalation(record.id, record.cardId, ESCALATION_LEASE_MS);
  if (claim.kind === 'busy') return claim.until;
  if (claim.kind !== 'claimed' && claim.kind !== 'reclaimed') return undefined;
  const log = deps.log.child({ run_id: record.request.run_id, step_id: record.request.step_id, timer: 'escalate' });
  const text = renderEscalation({ to: route.escalate_to, waitedMs: now - record.createdAt, votes: record.votes.length, required: requiredApprovals(route, record.request) });
  const ids = { approvalId: record.id, cardId: record.cardId };
  let outcome = 'escalated';
  try {
    if (claim.kind === 'reclaimed' && (await escalatedBefore(deps, ids, card, log))) outcome = 'escalated by an earlier attempt';
    else {
      // A turn too far off, or a 429, fails this try (the claim is given back); the timer comes back for it.
      await callInTurn(deps.turns, postMessagePace(card.channel), `escalate:${record.id}`, { maxWaitMs: TURN_MAX_WAIT_MS, log }, () =>
        deps.slack.chat.postMessage({
          channel: card.channel,
          thread_ts: card.ts,
          text,
          unfurl_links: false,
          metadata: { event_type: ESCALATION_EVENT_TYPE, event_payload: { approval_id: record.id, card_id: record.cardId } },
        }),
      );
    }
  } catch (err) {
    await deps.store.releaseEscalation(record.id, record.cardId);
    throw err;
  }
  await deps.store.markEscalated(record.id, record.cardId);
  deps.onEscalated?.(route.name);
  log.info({ outcome, mentioned: route.escalate_to.length }, 'escalation posted');
  return undefined;
}

/** Looks for an earlier attempt's escalation; a thread Slack will not let the bot read counts as none (warned: it may duplicate). */
async function escalatedBefore(deps: TimerDeps, ids: { approvalId: string; cardId: string }, card: CardLocation, log: Logger): Promise<boolean> {
  try {
    return await findEscalation(deps.slack, deps.own, ids, card);
  } catch (err) {
    const fault = classifySlackError(err);
    if (fault.kind !== 'permanent') throw err;
    log.warn({ channel: card.channel, slack_error: fault.error }, 'could not read the card’s thread to look for an escalation an earlier attempt may have posted (needs channels:history / groups:history); posting, which may duplicate it');
    return false;
  }
}
