import type { Approval } from '../domain/approval.js';
import { escalateAt, expiresAt, nextReminderAt, type Route } from '../domain/routes.js';
import type { ClaimedTimer, DueTime } from '../store/due-times.js';
import { classifySlackError } from '../ops/slack-errors.js';
import { TurnLaterError } from '../store/send-turns.js';
import { escalate, expire, remind, sweepLateCards, type TimerDeps } from './timer-actions.js';

export type { TimerDeps };

/**
 * Expiry, reminders, escalations and sweeps for late cards, as due times in one sorted set (see
 * due-times.ts) that every replica sweeps: they survive restarts, one sweep at a time runs each
 * (claimed in Redis with a lease, so a sweep that dies hands it on), and first-writer-wins recording
 * makes an expiry count once whatever the number of bot processes. A card's timers are set in the
 * same Redis step that records the card (see `saveCard`), and are removed in the step that decides
 * or cancels the approval; an entry left behind (a replaced card) does nothing: the action re-reads
 * the approval and does nothing for one that ended or moved to another card.
 * The click enforces the expiry on its own (by Redis's clock): a sweep that comes late lets no click
 * decide after the expiry.
 */

/**
 * When to look for duplicates of a card after an attempt that may have posted it gave up (from the
 * next attempt on): Slack may carry out a post it answered too late (the client gives up at 10 s)
 * well after, so once soon and once much later.
 */
const SWEEP_AFTER_MS = [30_000, 300_000] as const;

/** How often (ms) each replica looks for due timers: the most a timer waits past its due time. */
export const SWEEP_EVERY_MS = 1000;
/**
 * How long (ms) a claimed timer is held by the sweep that claimed it: longer than any action takes
 * (a turn of at most 30 s, then Slack's 10 s timeout). A sweep that dies leaves its timers due again after this.
 */
export const DUE_LEASE_MS = 120_000;
/** A timer whose action failed in a way worth retrying (Redis, a 5xx) is due again this much later (ms). */
export const RETRY_AFTER_MS = 15_000;

/**
 * When (ms from now) a timer whose send turn is `waitMs` (ms) away tries again: before the turn, and
 * before its lease in the channel's turns ends (`renewMs`, ms, + a grace), so it keeps its place
 * however long the channel stays busy. The sweep may take up to {@link SWEEP_EVERY_MS} more to run it.
 */
export function turnRetryDelayMs(waitMs: number, renewMs: number): number {
  return Math.max(0, Math.min(waitMs, renewMs) - SWEEP_EVERY_MS);
}
/** The most timers one process runs at once. */
const MAX_RUNNING = 10;

export interface Timers {
  /**
   * Schedules sweeps ({@link SWEEP_AFTER_MS}) that delete every card of this approval's card id
   * but the recorded one: an attempt that gave up (a timeout, a network error, a crash mid-call)
   * may yet post one. Scheduling again while they wait is a no-op.
   */
  sweepForLateCards(approval: Approval): Promise<void>;
  /** Stops sweeping and waits for the timers running now. */
  close(): Promise<void>;
}

/**
 * A card's timers, as its route and request set them: the expiry, the escalation when it comes
 * before the expiry, and the first reminder after `now` (ms). Pure; recorded with the card.
 */
export function cardTimers(approval: Pick<Approval, 'request' | 'createdAt'>, route: Route, now: number): DueTime[] {
  const expiry = expiresAt(route, approval.request, approval.createdAt);
  const escalation = escalateAt(route, approval.createdAt);
  const reminder = nextReminderAt(route, approval.createdAt, expiry, Math.max(now, approval.createdAt));
  return [
    ...(expiry !== undefined ? [{ kind: 'expire' as const, at: expiry }] : []),
    ...(escalation !== undefined && (expiry === undefined || escalation < expiry) ? [{ kind: 'escalate' as const, at: escalation }] : []),
    ...(reminder !== undefined ? [{ kind: 'remind' as const, at: reminder }] : []),
  ];
}

/** Starts this process's sweep of the due timers. Close it with `close()`. */
export function createTimers(deps: TimerDeps): Timers {
  const now = () => deps.now?.() ?? Date.now();
  const running = new Set<Promise<void>>();
  let closed = false;
  let timeout: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> = Promise.resolve();

  const sweep = async () => {
    // A full claim may leave more due: claim again at once while there is room.
    for (;;) {
      const room = MAX_RUNNING - running.size;
      if (closed || room <= 0) return;
      const claimed = await deps.due.claim(now(), DUE_LEASE_MS, room);
      for (const timer of claimed) {
        const run = runTimer(deps, timer, now).finally(() => running.delete(run));
        running.add(run);
      }
      if (claimed.length < room) return;
      await Promise.race(running);
    }
  };
  const tick = () => {
    sweeping = sweep()
      .catch((err: unknown) => deps.log.warn({ err: String(err) }, 'could not claim due timers; will try again'))
      .finally(() => {
        if (!closed) timeout = setTimeout(tick, SWEEP_EVERY_MS);
      });
  };
  tick();

  return {
    async sweepForLateCards(approval) {
      const at = now();
      await deps.due.scheduleIfAbsent(approval.id, [
        { kind: 'sweep0', at: at + SWEEP_AFTER_MS[0] },
        { kind: 'sweep1', at: at + SWEEP_AFTER_MS[1] },
      ]);
    },
    async close() {
      closed = true;
      clearTimeout(timeout);
      await sweeping;
      await Promise.allSettled(running);
    },
  };
}

/** Runs one claimed timer and ends its claim: done, due again, or (after a fault worth retrying) due again soon. */
async function runTimer(deps: TimerDeps, timer: ClaimedTimer, now: () => number): Promise<void> {
  const at = now();
  let next: number | undefined;
  try {
    next = await act(deps, timer, at);
  } catch (err) {
    if (err instanceof TurnLaterError) {
      deps.log.debug({ timer: timer.kind, approval_id: timer.approvalId, scope: err.scope, wait_ms: err.waitMs }, 'timer waits for its turn to call Slack');
      await finish(deps, timer, at + turnRetryDelayMs(err.waitMs, deps.turns.renewMs));
      return;
    }
    const permanent = classifySlackError(err).kind === 'permanent';
    deps.log[permanent ? 'error' : 'warn']({ timer: timer.kind, approval_id: timer.approvalId, err: String(err) }, permanent ? 'timer failed; Slack refused it, not retrying' : 'timer failed; will retry');
    next = permanent ? undefined : at + RETRY_AFTER_MS;
  }
  await finish(deps, timer, next);
}

async function finish(deps: TimerDeps, timer: ClaimedTimer, next: number | undefined): Promise<void> {
  await deps.due.finish(timer, next).catch((err: unknown) => deps.log.warn({ timer: timer.kind, approval_id: timer.approvalId, err: String(err) }, 'could not end a timer’s claim; it is due again when its lease ends'));
}

async function act(deps: TimerDeps, timer: ClaimedTimer, now: number): Promise<number | undefined> {
  if (timer.kind === 'expire') return expire(deps, timer.approvalId, now);
  const record = await deps.store.load(timer.approvalId);
  if (!record || record.decision || record.cancelled) return undefined;
  switch (timer.kind) {
    case 'remind':
      return remind(deps, record, now);
    case 'escalate':
      return escalate(deps, record, now);
    default:
      return sweepLateCards(deps, record);
  }
}
