import type { WebClient } from '@slack/web-api';
import { Queue, type ConnectionOptions } from 'bullmq';
import type { ApprovalRecord } from '../domain/approval.js';
import { renderCancelledCard, renderDecidedCard } from '../views/cards.js';
import { DECISION_JOB_NAME, decisionJobId, type Decision } from '../domain/contract.js';
import { signDecision, type DecisionSigningKey } from '../domain/decision-signature.js';
import type { Logger } from '../ops/logger.js';
import { classifySlackError } from '../ops/slack-errors.js';
import { UPDATE_PACE } from '../ops/slack-pace.js';
import { callInTurn, TurnLaterError, type SendTurns } from './send-turns.js';
import type { Store } from './store.js';

/**
 * What an approval's ending sets off, made crash-safe: for a decision, the push onto the resume
 * queue, then the card update; for a cancellation, the card update; then the requester's DM (best
 * effort, once). The ending is recorded together with an outbox entry; the entry goes only once the
 * push and the card update are done. The click settles its decision at once; a drain on every bot
 * process settles whatever a crash left behind. Whoever settles an entry first claims it for a lease
 * (renewed while it works), so one settler on one replica updates each card; a crashed settler's
 * lease lapses and a drain finishes its work. The decision job's id is derived from the approval
 * and the job is kept as long as approvals are, so pushing it again adds nothing.
 */

// A decision younger than this is left to the click that recorded it.
const DRAIN_GRACE_MS = 2000;
const DRAIN_INTERVAL_MS = 5000;
const DRAIN_BATCH = 100;
const DRAIN_CONCURRENCY = 10;
// A settle makes a few Slack calls of at most 10 s each; the lease is renewed while it works, so a
// live settler keeps it and a dead one's lapses within SETTLE_LEASE_MS.
export const SETTLE_LEASE_MS = 15_000;
const SETTLE_RENEW_MS = 5000;
// A settler waits this long (ms) at most for its turn to call chat.update (the lease is renewed
// meanwhile); a later turn is left to a drain, which finds the same turn. A click's settle, which can
// show the card through the click's response_url instead, waits less.
const MAX_UPDATE_WAIT_MS = 30_000;
const MAX_UPDATE_WAIT_WITH_FALLBACK_MS = 3000;

export type RenderedEnding = ReturnType<typeof renderDecidedCard>;

export interface Outbox {
  /** The resume queue, as the engine consumes it. */
  queue: Queue;
  /**
   * Delivers the record's decision (unless it was delivered before) and updates its card to show the
   * decision or the cancellation, if no other settler is at it and it is not settled yet.
   * `fallback` shows the card another way when chat.update fails (the click's response_url).
   * `leaseToken`: the settle lease the caller took when it recorded the decision (for
   * {@link SETTLE_LEASE_MS}, see the store's recordClick), so no claim is needed: the decision was
   * recorded a moment before, so it is not on the resume queue yet.
   * @returns whether this call settled it (false: settled already, or another settler holds it).
   * @throws when delivery or a transient card update failed; the outbox entry stays for the drain.
   */
  settle(record: ApprovalRecord, options?: { fallback?: (card: RenderedEnding) => Promise<unknown>; leaseToken?: string }): Promise<boolean>;
  /**
   * Puts an approval's decision, signed, on the resume queue with its job id: a no-op while the
   * engine's queue still holds that job, a new job once it was removed. Nothing else. The signature
   * is deterministic, so a push repeated after a crash carries the same data.
   */
  deliver(approvalId: string, decision: Decision): Promise<void>;
  /** Settles every decision recorded before the grace period that is not settled yet. */
  drain(): Promise<number>;
  close(): Promise<void>;
}

export interface OutboxDeps {
  connection: ConnectionOptions;
  queueName: string;
  queuePrefix: string;
  /** How long decision jobs stay in Redis after they finish: the window in which a repeat is a no-op. */
  retentionSec: number;
  /** Signs every decision pushed (DECISION_SIGNING_KEY). */
  signingKey: DecisionSigningKey;
  store: Store;
  slack: WebClient;
  /** Turns to call chat.update at the workspace's pace, shared by the replicas. */
  turns: SendTurns;
  /**
   * Called once an ending is settled, to tell the person who started the run how it ended (the
   * requester notices' `ended`). Best effort: it must not throw.
   */
  onSettled: (record: ApprovalRecord) => Promise<void>;
  /**
   * Waits until enough replicas have the ending (see createReplicaWait), before it is pushed or
   * shown. @defaultValue no wait
   */
  waitForReplicas?: (approvalId: string) => Promise<unknown>;
  log: Logger;
}

/** The resume queue producer and the outbox drain, which runs every few seconds until closed. */
export function createOutbox(deps: OutboxDeps): Outbox {
  const queue = new Queue(deps.queueName, { connection: deps.connection, prefix: deps.queuePrefix });
  queue.on('error', (err) => deps.log.warn({ err: err.message }, 'resume queue error'));

  const deliver: Outbox['deliver'] = async (approvalId, decision) => {
    await queue.add(DECISION_JOB_NAME, signDecision(decision, deps.signingKey), {
      jobId: decisionJobId(approvalId),
      removeOnComplete: { age: deps.retentionSec },
      removeOnFail: { age: deps.retentionSec },
    });
  };

  const settle: Outbox['settle'] = async (record, options = {}) => {
    // Everything is tied to the card whose ending this is: a newer request on the step reuses the approval id.
    const claim = options.leaseToken ? { kind: 'claimed' as const, token: options.leaseToken, delivered: false } : await deps.store.claimSettle(record.id, record.cardId, SETTLE_LEASE_MS);
    if (claim.kind !== 'claimed') return false;
    const renewal = setInterval(() => {
      deps.store.renewSettle(record.id, record.cardId, claim.token, SETTLE_LEASE_MS).catch((err: unknown) => deps.log.warn({ err: String(err), approval_id: record.id }, 'could not renew the settle lease'));
    }, SETTLE_RENEW_MS);
    // Settled: the lease goes back in the same round trip as the outbox entry; failed: at once.
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      clearInterval(renewal);
      await deps.store.releaseSettle(record.id, record.cardId, claim.token).catch(() => undefined); // else it lapses
    };
    try {
      await settleClaimed(record, claim.delivered, options.fallback, release);
      return true;
    } finally {
      await release();
    }
  };

  const settleClaimed = async (
    record: ApprovalRecord,
    delivered: boolean,
    fallback: ((card: RenderedEnding) => Promise<unknown>) | undefined,
    release: () => Promise<unknown>,
  ) => {
    const { decision, cancelled } = record;
    const log = deps.log.child({ run_id: record.request.run_id, step_id: record.request.step_id, ending: decision?.decision ?? 'cancelled' });
    await deps.waitForReplicas?.(record.id);
    let marked: Promise<void> | undefined;
    if (decision && !delivered) {
      await deliver(record.id, decision);
      // Only once the push has succeeded; the card update need not wait for the mark.
      marked = deps.store.markDelivered(record.id);
      marked.catch(() => undefined); // awaited below: never an unhandled rejection meanwhile
      log.debug('decision on the resume queue');
    }
    const rendered = decision ? renderDecidedCard(record, decision) : cancelled ? renderCancelledCard(record, cancelled) : undefined;
    if (rendered) await updateCard(deps, record, rendered, log, fallback);
    await marked;
    // Both sent at once, in this order, on one connection: one round trip.
    const [settledAs] = await Promise.all([deps.store.markSettled(record.id, record.cardId, record.card?.ts), release()]);
    // Only the approval's own ending is told: the notice is claimed once per approval id, and an
    // older card's (replaced meanwhile) must not take the newer request's.
    if (settledAs === 'own') await deps.onSettled(record);
  };

  const drain = async () => {
    const unsettled = await deps.store.unsettled(DRAIN_GRACE_MS, DRAIN_BATCH, Date.now());
    for (let i = 0; i < unsettled.length; i += DRAIN_CONCURRENCY) {
      const batch = unsettled.slice(i, i + DRAIN_CONCURRENCY);
      const results = await Promise.allSettled(batch.map(({ record }) => settle(record)));
      results.forEach((result, index) => {
        const { record } = batch[index]!;
        const at = { run_id: record.request.run_id, step_id: record.request.step_id };
        // A card waiting for its chat.update turn is not news: it comes up at every drain until then.
        if (result.status === 'rejected' && result.reason instanceof TurnLaterError) deps.log.debug({ ...at, wait_ms: result.reason.waitMs }, 'card update waits for its turn');
        else if (result.status === 'rejected') deps.log.warn({ ...at, err: String(result.reason) }, 'could not settle a decision yet; will try again');
        else if (result.value) deps.log.info(at, 'settled an ending left unsettled');
      });
    }
    return unsettled.length;
  };

  let draining: Promise<unknown> | undefined;
  const tick = () => {
    if (draining) return;
    draining = drain()
      .catch((err: unknown) => deps.log.warn({ err: String(err) }, 'outbox drain failed; will try again'))
      .finally(() => (draining = undefined));
  };
  const timer = setInterval(tick, DRAIN_INTERVAL_MS);
  tick();

  return {
    queue,
    settle,
    deliver,
    drain,
    async close() {
      clearInterval(timer);
      await draining;
      await queue.close();
    },
  };
}

/** Replaces the card's buttons with the outcome. A card Slack will never update (deleted, say) is left as it is. */
async function updateCard(
  deps: OutboxDeps,
  record: ApprovalRecord,
  rendered: RenderedEnding,
  log: Logger,
  fallback: ((card: RenderedEnding) => Promise<unknown>) | undefined,
): Promise<void> {
  if (!record.card) {
    log.warn('the approval has no recorded card to update');
    return;
  }
  const { card } = record;
  try {
    // In the workspace's chat.update turns; a 429 holds them all, on every replica, and this card keeps its turn.
    const maxWaitMs = fallback ? MAX_UPDATE_WAIT_WITH_FALLBACK_MS : MAX_UPDATE_WAIT_MS;
    await callInTurn(deps.turns, UPDATE_PACE, `settle:${record.id}:${record.cardId}`, { maxWaitMs, log }, () =>
      deps.slack.chat.update({ channel: card.channel, ts: card.ts, ...rendered }),
    );
    log.debug({ ...card }, 'card updated');
    return;
  } catch (err) {
    const later = err instanceof TurnLaterError;
    const fault = classifySlackError(err);
    if (fallback) {
      if (later) log.info({ wait_ms: err.waitMs }, 'chat.update is paced; updating the card through response_url');
      else log.warn({ slack_error: fault.error }, 'chat.update failed; updating the card through response_url');
      const shown = await fallback(rendered).then(
        () => true,
        (fallbackErr: unknown) => (log.warn({ err: String(fallbackErr) }, 'response_url failed too'), false),
      );
      if (shown) return;
    }
    if (later || fault.kind === 'transient') throw err;
    log.error({ slack_error: fault.error, ...record.card }, 'the card cannot be updated; the ending stands (a decision was delivered)');
  }
}
