import type { WebClient } from '@slack/web-api';
import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { EXPIRY_ACTOR, expireIfPending, type Approval, type CardLocation } from '../domain/approval.js';
import { auditEntry } from '../store/audit.js';
import { ESCALATION_EVENT_TYPE, renderEscalation, renderReminder } from '../views/cards.js';
import type { Logger } from '../ops/logger.js';
import type { Outbox } from '../store/outbox.js';
import { escalateAt, expiresAt, matchRoute, nextReminderAt, requiredApprovals, type Route } from '../domain/routes.js';
import type { Store } from '../store/store.js';
import { cardTargets, removeDuplicateCards, type BotIdentity } from './find-posted-card.js';
import { callInTurn, type SendTurns } from '../store/send-turns.js';
import { postMessagePace } from '../ops/slack-pace.js';
import { classifySlackError } from '../ops/slack-errors.js';
import { findEscalation } from './find-escalation.js';

/**
 * Expiry, reminders, escalations and sweeps for late cards, as BullMQ delayed jobs on a queue of the bot's own:
 * they survive restarts, and deterministic job ids plus first-writer-wins recording make each run
 * once, whatever the number of bot processes. A timer belongs to one card: a superseded card's
 * timers do nothing.
 */

const EXPIRE = 'expire';
const REMIND = 'remind';
const SWEEP = 'sweep';
const ESCALATE = 'escalate';
/**
 * When to look for duplicates of a card after an attempt that may have posted it gave up (from the
 * next attempt on): Slack may carry out a post it answered too late (the client gives up at 10 s)
 * well after, so once soon and once much later.
 */
const SWEEP_AFTER_MS = [30_000, 300_000] as const;

// A reminder waits this long (ms) at most for its turn in the card's channel before trying again later.
const REMINDER_MAX_WAIT_MS = 30_000;

export interface TimerJob {
  approvalId: string;
  cardId: string;
}

export interface Timers {
  /** Schedules the approval's expiry and first reminder; scheduling again is a no-op. */
  schedule(approval: Approval, route: Route): Promise<void>;
  /**
   * Schedules sweeps ({@link SWEEP_AFTER_MS}) that delete every card of this approval's card id
   * but the recorded one: an attempt that gave up (a timeout, a network error, a crash mid-call)
   * may yet post one. Scheduling again while they wait is a no-op.
   */
  sweepForLateCards(approval: Approval): Promise<void>;
  close(): Promise<void>;
}

export interface TimerDeps {
  connection: ConnectionOptions;
  queueName: string;
  queuePrefix: string;
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

export function createTimers(deps: TimerDeps): Timers {
  const queue = new Queue<TimerJob>(deps.queueName, { connection: deps.connection, prefix: deps.queuePrefix });
  queue.on('error', (err) => deps.log.warn({ err: err.message }, 'timer queue error'));
  const now = () => deps.now?.() ?? Date.now();
  const at = async (name: string, jobId: string, when: number, data: TimerJob) => {
    await queue.add(name, data, {
      jobId,
      delay: Math.max(0, when - now()),
      attempts: 5,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: { age: 7 * 86_400 },
    });
  };
  const scheduleReminder = async (approval: Approval, route: Route, after: number) => {
    const next = nextReminderAt(route, approval.createdAt, expiresAt(route, approval.request, approval.createdAt), after);
    if (next !== undefined) await at(REMIND, `${REMIND}-${approval.id}-${approval.cardId}-${next}`, next, { approvalId: approval.id, cardId: approval.cardId });
  };

  const worker = new Worker<TimerJob>(
    deps.queueName,
    async (job) => {
      if (job.name === SWEEP) return sweep(deps, job);
      const record = await deps.store.load(job.data.approvalId);
      if (!record || record.cardId !== job.data.cardId || record.decision || record.cancelled) return { outcome: 'nothing to do' };
      const log = deps.log.child({ run_id: record.request.run_id, step_id: record.request.step_id, timer: job.name });
      if (job.name === ESCALATE) return escalate(deps, record, log, job.attemptsMade > 0);
      return job.name === EXPIRE ? expire(deps, job, log) : remind(deps, record, log, () => scheduleReminder(record, matchRoute(deps.routes, record.request), now()));
    },
    { connection: deps.connection, prefix: deps.queuePrefix, concurrency: 10 },
  );
  worker.on('failed', (job, err) => deps.log.error({ timer: job?.name, approval_id: job?.data.approvalId, err: err.message }, 'timer failed'));
  worker.on('error', (err) => deps.log.error({ err: err.message }, 'timer worker error'));

  return {
    async schedule(approval, route) {
      const expiry = expiresAt(route, approval.request, approval.createdAt);
      const data = { approvalId: approval.id, cardId: approval.cardId };
      if (expiry !== undefined) await at(EXPIRE, `${EXPIRE}-${approval.id}-${approval.cardId}`, expiry, data);
      const escalation = escalateAt(route, approval.createdAt);
      if (escalation !== undefined && (expiry === undefined || escalation < expiry)) await at(ESCALATE, `${ESCALATE}-${approval.id}-${approval.cardId}`, escalation, data);
      await scheduleReminder(approval, route, Math.max(now(), approval.createdAt));
    },
    async sweepForLateCards(approval) {
      const data = { approvalId: approval.id, cardId: approval.cardId };
      await Promise.all(SWEEP_AFTER_MS.map((after, index) => at(SWEEP, `${SWEEP}-${approval.id}-${approval.cardId}-${index}`, now() + after, data)));
    },
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}

/**
 * Ends a pending approval as expired. Needs nothing but the approval: not the policy snapshot (an
 * expiry stands under any policy, or none), not the votes (approvals counted so far change nothing).
 */
async function expire(deps: TimerDeps, job: Job<TimerJob>, log: Logger): Promise<{ outcome: string }> {
  const read = await deps.store.loadForClick(job.data.approvalId, deps.policySnapshotKey);
  const now = deps.now?.() ?? Date.now();
  const decision = read.record && expireIfPending(read.record, job.data.cardId, now);
  if (!read.record || !decision) return { outcome: 'nothing to do' };
  const entry = auditEntry(read.record, 'expired', EXPIRY_ACTOR.id, now, { decision: 'expired' });
  const result = await deps.store.recordClick(read.record, job.data.cardId, { kind: 'decision', decision }, read, deps.policySnapshotKey, entry, now);
  if (result.kind !== 'recorded') return { outcome: 'decided first' };
  log.info({ outcome: 'expired' }, 'approval expired');
  await deps.outbox.settle({ ...read.record, decision }).catch((err: unknown) => log.warn({ err: String(err) }, 'expiry not yet settled; the outbox drain will finish it'));
  return { outcome: 'expired' };
}

/**
 * Deletes duplicates of the recorded card. Before a card is recorded there is nothing to keep: the
 * attempt still posting looks for a card itself, and the next sweep comes later.
 */
async function sweep(deps: TimerDeps, job: Job<TimerJob>): Promise<{ outcome: string; removed?: number }> {
  const record = await deps.store.load(job.data.approvalId);
  if (!record?.card || record.cardId !== job.data.cardId) return { outcome: 'nothing to do' };
  const log = deps.log.child({ run_id: record.request.run_id, step_id: record.request.step_id, timer: SWEEP });
  const targets = cardTargets(record.request, matchRoute(deps.routes, record.request));
  const removed = await removeDuplicateCards(deps.slack, deps.own, log, { ...record, card: record.card }, targets);
  return { outcome: 'swept', removed };
}

/** A reply in the card's thread naming the approvers who have not acted yet, then the next reminder; deleted if the approval ended meanwhile. */
async function remind(deps: TimerDeps, record: Parameters<typeof expireIfPending>[0], log: Logger, scheduleNext: () => Promise<void>): Promise<{ outcome: string }> {
  if (!record.card) return { outcome: 'no card yet' };
  const route = matchRoute(deps.routes, record.request);
  const voted = new Set(record.votes.map((vote) => vote.id));
  const people = route.approvers === 'anyone' ? (route.mention ?? []) : route.approvers.filter((id) => !voted.has(id));
  const expiry = expiresAt(route, record.request, record.createdAt);
  const required = requiredApprovals(route, record.request);
  const card = record.card;
  // A turn too far off, or a 429, fails this try; the timer job's own retries come back for it.
  const posted = await callInTurn(deps.turns, postMessagePace(card.channel), `remind:${record.id}`, { maxWaitMs: REMINDER_MAX_WAIT_MS, log }, () =>
    deps.slack.chat.postMessage({
      channel: card.channel,
      thread_ts: card.ts,
      text: renderReminder({ waitingFor: people, votes: record.votes.length, required, ...(expiry !== undefined ? { expiresAt: expiry } : {}) }),
      unfurl_links: false,
    }),
  );
  // Slack may carry out the post late: an approval decided (or cancelled, or replaced) meanwhile
  // must not be left with a reminder below its outcome saying it still waits.
  const now = await deps.store.load(record.id);
  if (!now || now.cardId !== record.cardId || now.decision || now.cancelled) {
    if (posted.ts) await deps.slack.chat.delete({ channel: posted.channel ?? card.channel, ts: posted.ts });
    log.info({ outcome: 'ended meanwhile' }, 'the approval ended while its reminder was posted; reminder deleted');
    return { outcome: 'ended meanwhile' };
  }
  log.info({ outcome: 'reminded', mentioned: people.length }, 'reminder posted');
  await scheduleNext();
  return { outcome: 'reminded' };
}

/**
 * Mentions the route's `escalate_to` once in the card's thread, in the channel's send turn (a channel
 * held for Slack's Retry-After waits, as for cards and reminders). The claim re-reads the approval in
 * the same Redis step (decided or cancelled meanwhile: nothing is posted) and is taken once across
 * retries and replicas; a post that fails gives the claim back and is retried. A retry first looks in
 * the card's thread for the escalation (by its metadata, the bot's own messages only) that an earlier
 * attempt's post may have left when Slack carried it out but answered with an error, and posts
 * nothing if it is there.
 * What holds: one escalation, except that a second is possible when Slack carries a post out only
 * after the retry has looked (a call that timed out), or when the bot may not read the thread (a
 * warning says so); a bot that dies between the claim and the post loses that one escalation.
 */
async function escalate(deps: TimerDeps, record: Parameters<typeof expireIfPending>[0], log: Logger, retried: boolean): Promise<{ outcome: string }> {
  const route = matchRoute(deps.routes, record.request);
  const card = record.card;
  if (!card || !route.escalate_to?.length) return { outcome: 'nothing to do' };
  const claim = await deps.store.claimEscalation(record.id, record.cardId);
  if (claim !== 'claimed') return { outcome: claim === 'done' ? 'escalated before' : 'nothing to do' };
  const now = deps.now?.() ?? Date.now();
  const text = renderEscalation({ to: route.escalate_to, waitedMs: now - record.createdAt, votes: record.votes.length, required: requiredApprovals(route, record.request) });
  const ids = { approvalId: record.id, cardId: record.cardId };
  let outcome = 'escalated';
  try {
    if (retried && (await escalatedBefore(deps, ids, card, log))) outcome = 'escalated by an earlier attempt';
    else {
      // A turn too far off, or a 429, fails this try (the claim is given back); the job's retries come back for it.
      await callInTurn(deps.turns, postMessagePace(card.channel), `escalate:${record.id}`, { maxWaitMs: REMINDER_MAX_WAIT_MS, log }, () =>
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
  deps.onEscalated?.(route.name);
  log.info({ outcome, mentioned: route.escalate_to.length }, 'escalation posted');
  return { outcome };
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
