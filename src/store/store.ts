import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../ops/redis-connection.js';
import { normalizeHash, type Decision, type Vote } from '../domain/contract.js';
import type { EnqueueOrder } from '../domain/enqueue-order.js';
import type { Approval, ApprovalRecord, Cancellation, CardLocation } from '../domain/approval.js';
import { auditEntry, auditFields, type AuditEntry, type ClickedAppend } from './audit.js';
import { recordKeyOf, tombstoneKeyOf } from './approval-status.js';
import { CLAIM_SETTLE, CLEAR_SUPERSEDED, FORGET_SETTLED, MARK_SETTLED, RELEASE_SETTLE } from './outbox-scripts.js';
import { defineScripts } from './define-scripts.js';
import { CARD_TIMERS, dueKeyOf, dueMember, type DueTime } from './due-times.js';

export { defineScripts };
import { ABANDON, CANCEL, CLAIM_CARD, CLAIM_ESCALATION, CLAIM_NOTICE, MARK_ESCALATED, RELEASE_ESCALATION, MARK_DELIVERED, RECORD_CLICK, RELEASE_AFTER_FAILURE, RENEW_LEASE, SAVE_CARD, SET_POLICY } from './store-scripts.js';

/**
 * Approval state in Redis: one hash per approval, so any replica can serve any later step and a
 * restart loses nothing. Every change that must be decided once is one Lua script.
 *
 * Keys (P = STATE_PREFIX):
 *   P:approval:<id>    hash: request (JSON, without job), job_preview (compact JSON, see
 *                      renderJobPreview), binding, card_id, created_at, channel, ts, posted_at,
 *                      post_started, post_failures (absent: none), votes (JSON: approvals counted),
 *                      decision (JSON, as pushed to the engine), status ('decided' once decided),
 *                      decided_at, delivered, settled, version (the request's enqueue order),
 *                      escalating ('<card id>:<lease end ms>' while an escalation is posted),
 *                      escalated (the card id whose escalation was posted),
 *                      supersedes (JSON: an older pending card this approval replaced, to be
 *                      marked superseded, see CLAIM_CARD), owed_cards (JSON list: older cancelled
 *                      cards it replaced whose update is still owed, see CLAIM_CARD)
 *   P:tombstone:<id>   what an ended approval leaves for much longer than its record (see
 *                      TOMBSTONE in store-scripts.ts): JSON {binding, version, decision | cancelled}
 *   P:post-lease:<id>  token of the one delivery allowed to talk to Slack for this card now
 *   P:outbox           sorted set of approval ids whose ending (a decision, a cancellation) is
 *                      recorded but not yet settled (delivered to the resume queue and shown on
 *                      the card; also the older cancelled cards kept in `owed_cards`), scored by
 *                      when it was recorded
 *   P:settle-lease:<id>:<card id> token of the one settler (click, timer or drain, on any
 *                      replica) settling the ending shown on this card of the approval now
 *   P:pending          sorted set of approval ids waiting for a decision, scored by created_at
 *   P:policy-version   the enqueue order of the policy job that set the snapshot in force
 *   P:due              sorted set of the approvals' timers by due time (see due-times.ts)
 */

/** An older card this approval replaced, to be marked superseded (until it is, its buttons only say "out of date"). */
export interface SupersededCard {
  card: CardLocation;
  approval: Approval;
}

export type Claim =
  /** `snapshotInForce`: the policy snapshot in force when claimed (read in the same step), if any is set. */
  | { kind: 'claimed'; lease: string; approval: Approval; ambiguous: boolean; superseded?: SupersededCard; snapshotInForce?: string }
  | { kind: 'posted'; card: CardLocation; superseded?: SupersededCard }
  | { kind: 'cancelled' }
  /** The approval ended long ago with this decision, under the same binding; only its tombstone is left. */
  | { kind: 'decided'; decision: Decision }
  | { kind: 'outdated' }
  | { kind: 'conflict' }
  | { kind: 'busy'; retryInMs: number }
  /** The request's enqueue time is further ahead of Redis's clock (`redisNowMs`, ms) than the claim allows: nothing changed. */
  | { kind: 'future'; redisNowMs: number };

/** `ended`: the approval ended (cancelled, decided) while its card was posted; its ending is in the outbox, to settle. */
export type SaveResult = { kind: 'saved'; ended?: true } | { kind: 'other'; card: CardLocation } | { kind: 'missing' } | { kind: 'replaced' };

export type RecordResult =
  /** `settleToken`: the settle lease taken with it (when asked for, and free), for the outbox's settle. */
  | { kind: 'recorded'; settleToken?: string }
  | { kind: 'counted' }
  | { kind: 'decided'; decision: Decision }
  | { kind: 'cancelled'; cancellation: Cancellation }
  | { kind: 'missing' }
  | { kind: 'superseded' }
  | { kind: 'changed' }
  /** A click's change came at or after the approval's expiry, by Redis's clock: nothing was recorded. */
  | { kind: 'expired' }
  /** Redis's clock was past the caller's deadline: nothing was recorded. */
  | { kind: 'too_late' };

/** When a click's change may still be recorded, checked by Redis's own clock (see RECORD_CLICK). */
export interface RecordLimits {
  /** When the approval expires (ms since the epoch): a vote or a reviewer's decision at or after it is refused. */
  expiresAt?: number;
  /** Nothing is recorded after this (ms since the epoch): the interaction that asked was answered by then. */
  notAfter?: number;
  /** A click's `clicked` audit entry, appended in the same step (see RECORD_CLICK for when). */
  clicked?: ClickedAppend;
  /** Take the settle lease of a decision recorded, for this long (ms): the result carries its token. */
  settleLeaseMs?: number;
}

/** Whether this caller posts a card's escalation; `busy`: another caller holds it until `until` (ms, Redis's clock). */
export type EscalationClaim = { kind: 'claimed' | 'reclaimed' | 'done' | 'ended' } | { kind: 'busy'; until: number };

export type CancelResult = { kind: 'cancelled' } | { kind: 'decided'; decision: Decision } | { kind: 'already' };

/** What a click read, for recording only if it still holds. */
export interface ReadForClick {
  record: ApprovalRecord | undefined;
  snapshotInForce: string | undefined;
  /** The votes field exactly as stored ('' when none). */
  votesRaw: string;
}

/** What a click changes: one more approval counted, or the decision. */
export type ClickChange = { kind: 'vote'; votes: Vote[] } | { kind: 'decision'; decision: Decision };

/** A decided or cancelled approval whose ending is not yet delivered and shown on its card. */
export interface Unsettled {
  record: ApprovalRecord;
  delivered: boolean;
}

/** The right to settle an ending now, or why not. */
export type SettleClaim = { kind: 'claimed'; token: string; delivered: boolean } | { kind: 'busy' } | { kind: 'settled' };

export interface StoreOptions {
  prefix: string;
  /** The audit stream that the scripts append state changes to, and its cap. */
  audit: { key: string; maxLen: number };
  retentionSec: number;
  /**
   * How long an ended approval's tombstone (its binding and its ending) is kept: DECISION_TOMBSTONE_SEC.
   * @defaultValue one year
   */
  tombstoneSec?: number;
  /** How long a post lease lasts without renewal: a crashed holder blocks others this long at most. */
  leaseMs: number;
  /** Told of each decision this store recorded (a click's, an expiry's, a policy change's), with the approval as read before it: for metrics. */
  onDecisionRecorded?: (decision: Decision, record: ApprovalRecord | undefined) => void;
}

const ONE_YEAR_SEC = 365 * 24 * 3600;

export type Store = ReturnType<typeof createStore>;

/** Approval persistence over one ioredis connection. */
export function createStore(redis: RedisClient, options: StoreOptions) {
  const recordKey = (id: string) => recordKeyOf(options.prefix, id);
  const leaseKey = (id: string) => `${options.prefix}:post-lease:${id}`;
  const tombstoneKey = (id: string) => tombstoneKeyOf(options.prefix, id);
  const settleLeaseKey = (id: string, cardId: string) => `${options.prefix}:settle-lease:${id}:${cardId}`;
  const outboxKey = `${options.prefix}:outbox`;
  const pendingKey = `${options.prefix}:pending`;
  const policyVersionKey = `${options.prefix}:policy-version`;
  const dueKey = dueKeyOf(options.prefix);
  const cardTimers = (id: string) => CARD_TIMERS.map((kind) => dueMember(kind, id));
  const run = defineScripts(redis, { CLAIM_CARD, CLAIM_NOTICE, CLAIM_ESCALATION, MARK_ESCALATED, RELEASE_ESCALATION, RENEW_LEASE, RELEASE_AFTER_FAILURE, ABANDON, SAVE_CARD, RECORD_CLICK, MARK_DELIVERED, MARK_SETTLED, CANCEL, SET_POLICY, CLAIM_SETTLE, RELEASE_SETTLE, CLEAR_SUPERSEDED, FORGET_SETTLED });
  const retention = String(options.retentionSec);
  const tombstoneTtl = String(options.tombstoneSec ?? ONE_YEAR_SEC);
  const auditArgs = (entry: AuditEntry) => [String(options.audit.maxLen), JSON.stringify(auditFields(entry))];

  return {
    leaseMs: options.leaseMs,

    /**
     * Creates the approval if new and decides which delivery of its request posts the card.
     * @param version the request job's enqueue order: a later request for the step replaces an earlier one, never the reverse.
     * @param expiresAt when the approval expires (ms), if ever: a pending approval is kept until then plus the retention period.
     * @param checks.policySnapshotKey where the policy snapshot in force is: a claim to post answers it (`snapshotInForce`).
     * @param checks.maxAheadMs how far (ms) the enqueue time in `version` may be ahead of Redis's clock (see
     *   MAX_ENQUEUE_SKEW_MS); further, the claim is `future` and changes nothing. Unchecked by default.
     */
    async claimCard(candidate: Approval, version: EnqueueOrder, expiresAt?: number, checks: { policySnapshotKey?: string; maxAheadMs?: number } = {}): Promise<Claim> {
      const { policySnapshotKey, maxAheadMs } = checks;
      const pendingTtlSec = expiresAt === undefined ? 0 : Math.max(1, Math.ceil((expiresAt - candidate.createdAt) / 1000)) + options.retentionSec;
      const lease = randomBytes(12).toString('hex');
      const { request } = candidate;
      const reply = (await run.CLAIM_CARD(
        // Without a snapshot key, a key that is never set (no snapshot in force).
        [recordKey(candidate.id), leaseKey(candidate.id), options.audit.key, pendingKey, tombstoneKey(candidate.id), policySnapshotKey ?? `${options.prefix}:no-policy`, outboxKey],
        [
          JSON.stringify(request),
          bindingOf(request),
          candidate.cardId,
          String(candidate.createdAt),
          lease,
          String(options.leaseMs),
          String(pendingTtlSec),
          String(options.audit.maxLen),
          JSON.stringify(auditFields(auditEntry(candidate, 'requested', request.requested_by, candidate.createdAt))),
          JSON.stringify(auditFields(auditEntry(candidate, 'superseded', request.requested_by, candidate.createdAt))),
          candidate.id,
          version,
          candidate.jobPreview ?? '',
          maxAheadMs === undefined ? '' : String(maxAheadMs),
        ],
      )) as (string | null)[] as string[];
      switch (reply[0]) {
        case 'claimed': {
          const superseded = parseSupersedes(reply[4], candidate);
          return {
            kind: 'claimed',
            lease,
            approval: { ...candidate, cardId: reply[1]!, createdAt: Number(reply[2]) },
            ambiguous: reply[3] === '1',
            ...(superseded ? { superseded } : {}),
            ...(typeof reply[5] === 'string' ? { snapshotInForce: reply[5] } : {}),
          };
        }
        case 'superseded':
          return {
            kind: 'claimed',
            lease,
            approval: candidate,
            ambiguous: false,
            ...(typeof reply[7] === 'string' ? { snapshotInForce: reply[7] } : {}),
            ...(reply[4] && reply[5]
              ? {
                  superseded: {
                    card: { channel: reply[3]!, ts: reply[4] },
                    approval: { id: candidate.id, cardId: reply[6]!, request: JSON.parse(reply[5]) as Approval['request'], createdAt: candidate.createdAt },
                  },
                }
              : {}),
          };
        case 'posted': {
          const superseded = parseSupersedes(reply[3], candidate);
          return { kind: 'posted', card: { channel: reply[1]!, ts: reply[2]! }, ...(superseded ? { superseded } : {}) };
        }
        case 'cancelled':
          return { kind: 'cancelled' };
        case 'decided':
          return { kind: 'decided', decision: endingOf(reply[1]!).decision! };
        case 'outdated':
          return { kind: 'outdated' };
        case 'conflict':
          return { kind: 'conflict' };
        case 'future':
          return { kind: 'future', redisNowMs: Number(reply[1]) };
        default:
          return { kind: 'busy', retryInMs: Number(reply[1]) };
      }
    },

    /**
     * The older card `cardId` this approval replaced is marked superseded: nothing is left to do for
     * it. Only that card is forgotten: a newer request may have replaced the approval again meanwhile.
     */
    async clearSuperseded(id: string, cardId: string): Promise<void> {
      await run.CLEAR_SUPERSEDED([recordKey(id)], [cardId]);
    },

    async renewLease(id: string, lease: string): Promise<boolean> {
      return (await run.RENEW_LEASE([leaseKey(id)], [lease, String(options.leaseMs)])) === 1;
    },

    /**
     * Gives the post lease back after an attempt that posted nothing it knows of.
     * @param counted false for a rate limit, which is a wait and not one of the failures that end a request.
     * @returns how many attempts have failed so far.
     */
    async releaseAfterFailure(id: string, lease: string, certainlyNotPosted: boolean, counted = true): Promise<number> {
      return Number(await run.RELEASE_AFTER_FAILURE([recordKey(id), leaseKey(id)], [lease, certainlyNotPosted ? '1' : '0', counted ? '1' : '0']));
    },

    /**
     * Forgets an approval whose card can never be posted; a cancelled card it replaced that is still
     * owed its update is kept for the outbox, as its cancel left it (see ABANDON).
     * @returns false when a card exists after all.
     */
    async abandon(id: string, lease: string): Promise<boolean> {
      return (await run.ABANDON([recordKey(id), leaseKey(id), pendingKey], [lease, id, retention])) === 1;
    },

    /**
     * Records the card (see SAVE_CARD) and, unless the approval ended meanwhile, sets the card's
     * timers in the same step, replacing an earlier card's.
     * @param timers the card's timers (see `cardTimers` in timers.ts); none by default.
     */
    async saveCard(approval: Approval, lease: string, card: CardLocation, now: number, timers: DueTime[] = []): Promise<SaveResult> {
      const { id } = approval;
      const reply = (await run.SAVE_CARD(
        [recordKey(id), leaseKey(id), options.audit.key, outboxKey, dueKey],
        [
          card.channel,
          card.ts,
          String(now),
          lease,
          ...auditArgs(auditEntry(approval, 'posted', 'bot', now, { ...card })),
          approval.cardId,
          id,
          JSON.stringify(cardTimers(id)),
          JSON.stringify(timers.map((timer) => [dueMember(timer.kind, id), timer.at])),
        ],
      )) as string[];
      if (reply[0] === 'other') return { kind: 'other', card: { channel: reply[1]!, ts: reply[2]! } };
      if (reply[0] === 'saved' && reply[1] === 'ended') return { kind: 'saved', ended: true };
      return { kind: reply[0] as 'saved' | 'missing' | 'replaced' };
    },

    /** The card of an approval, when one was recorded. */
    async findCard(id: string): Promise<CardLocation | undefined> {
      const [channel, ts] = await redis.hmget(recordKey(id), 'channel', 'ts');
      return channel && ts ? { channel, ts } : undefined;
    },

    /**
     * An approval, the policy snapshot in force and the votes, read for a click in one round trip
     * (pipelined, not a transaction: RECORD_CLICK checks again everything a click is decided on).
     */
    async loadForClick(id: string, policySnapshotKey: string): Promise<ReadForClick> {
      const replies = await redis.pipeline().hgetall(recordKey(id)).get(policySnapshotKey).exec();
      if (!replies) throw new Error(`reading approval ${id} was aborted`);
      const [[recordError, fields], [snapshotError, snapshot]] = replies as [[Error | null, Record<string, string>], [Error | null, string | null]];
      if (recordError || snapshotError) throw recordError ?? snapshotError;
      return { record: toRecord(id, fields), snapshotInForce: snapshot ?? undefined, votesRaw: fields.votes ?? '' };
    },

    /**
     * Records a click's change first-writer-wins; see RECORD_CLICK for the conditions. An expired
     * decision (the timer's, or a click's that came too late) is recorded whatever the snapshot and
     * votes: only a decision, cancellation or newer card recorded first stops it.
     * @param entries the audit entries appended with the change, in order.
     */
    async recordClick(
      approval: Approval,
      cardId: string,
      change: ClickChange,
      read: ReadForClick,
      policySnapshotKey: string,
      entries: AuditEntry | AuditEntry[],
      now: number,
      limits: RecordLimits = {},
    ): Promise<RecordResult> {
      const { id } = approval;
      const mode = change.kind === 'vote' ? 'vote' : change.decision.decision === 'expired' ? 'expiry' : 'decision';
      const payload = change.kind === 'vote' ? JSON.stringify(change.votes) : JSON.stringify(change.decision);
      const audit = (Array.isArray(entries) ? entries : [entries]).map(auditFields);
      const { clicked } = limits;
      const settleToken = limits.settleLeaseMs === undefined ? '' : randomBytes(12).toString('hex');
      const reply = (await run.RECORD_CLICK(
        // Without a click, its two keys are the audit stream's (declared, never touched).
        [recordKey(id), outboxKey, policySnapshotKey, options.audit.key, pendingKey, clicked?.stream ?? options.audit.key, clicked?.counter ?? options.audit.key, settleLeaseKey(id, cardId), dueKey],
        [
          cardId,
          mode,
          payload,
          String(now),
          retention,
          read.snapshotInForce ?? '',
          read.snapshotInForce === undefined ? '1' : '0',
          read.votesRaw,
          id,
          String(options.audit.maxLen),
          JSON.stringify(audit),
          limits.expiresAt === undefined ? '' : String(limits.expiresAt),
          limits.notAfter === undefined ? '' : String(limits.notAfter),
          clicked ? JSON.stringify(auditFields(clicked.entry)) : '',
          clicked?.maxLen ?? '0',
          clicked?.limit ?? '0',
          settleToken,
          String(limits.settleLeaseMs ?? 0),
          ...cardTimers(id),
        ],
      )) as string[];
      if (reply[0] === 'decided') return { kind: 'decided', decision: JSON.parse(reply[1]!) as Decision };
      if (reply[0] === 'cancelled') return { kind: 'cancelled', cancellation: JSON.parse(reply[1]!) as Cancellation };
      if (reply[0] === 'recorded') {
        if (change.kind === 'decision') options.onDecisionRecorded?.(change.decision, read.record);
        return reply[1] === '1' ? { kind: 'recorded', settleToken } : { kind: 'recorded' };
      }
      return { kind: reply[0] as 'counted' | 'missing' | 'superseded' | 'changed' | 'expired' | 'too_late' };
    },

    /** Closes an approval the engine cancelled (or leaves a cancelled record for a request yet to come). */
    async cancel(approval: Pick<Approval, 'id'>, cancellation: Cancellation, entry: AuditEntry, now: number): Promise<CancelResult> {
      const reply = (await run.CANCEL(
        [recordKey(approval.id), outboxKey, options.audit.key, pendingKey, tombstoneKey(approval.id), dueKey],
        [JSON.stringify(cancellation), String(now), retention, approval.id, ...auditArgs(entry), tombstoneTtl, ...cardTimers(approval.id)],
      )) as string[];
      if (reply[0] === 'decided') return { kind: 'decided', decision: JSON.parse(reply[1]!) as Decision };
      if (reply[0] === 'ended') return { kind: 'decided', decision: endingOf(reply[1]!).decision! };
      return { kind: reply[0] as 'cancelled' | 'already' };
    },

    /** Sets the policy snapshot in force, unless a policy job enqueued later already did. */
    async setPolicy(policySnapshotKey: string, snapshot: string, version: EnqueueOrder): Promise<boolean> {
      return (await run.SET_POLICY([policySnapshotKey, policyVersionKey], [snapshot, version])) === 1;
    },

    /** How many approvals the pending index holds, and when the oldest was requested (ms). */
    async pendingSummary(): Promise<{ count: number; oldestCreatedAt?: number }> {
      const replies = (await redis.multi().zcard(pendingKey).zrange(pendingKey, 0, 0, 'WITHSCORES').exec()) ?? [];
      const [[countError, count], [oldestError, oldest]] = replies as [[Error | null, number], [Error | null, string[]]];
      if (countError || oldestError) throw countError ?? oldestError;
      return { count, ...(oldest[1] !== undefined ? { oldestCreatedAt: Number(oldest[1]) } : {}) };
    },

    /** Redis's clock (ms since the epoch), which every replica shares. */
    async clockMs(): Promise<number> {
      const [sec, micro] = await redis.time();
      return Number(sec) * 1000 + Math.floor(Number(micro) / 1000);
    },

    /** Ids of the approvals waiting for a decision, oldest first. */
    async pendingIds(): Promise<string[]> {
      return redis.zrange(pendingKey, 0, -1);
    },

    /** Drops from the pending index approvals that no longer exist (their records expired). */
    async forgetPending(ids: string[]): Promise<void> {
      if (ids.length > 0) await redis.zrem(pendingKey, ...ids);
    },

    /** Several approvals in one round trip; undefined where one no longer exists. */
    async loadMany(ids: string[]): Promise<(ApprovalRecord | undefined)[]> {
      if (ids.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.hgetall(recordKey(id));
      const replies = (await pipeline.exec()) ?? [];
      return replies.map(([err, fields], index) => {
        if (err) throw err;
        return toRecord(ids[index]!, fields as Record<string, string>);
      });
    },

    /** An approval as stored, or undefined. */
    async load(id: string): Promise<ApprovalRecord | undefined> {
      return toRecord(id, await redis.hgetall(recordKey(id)));
    },

    /** The decision is on the resume queue; from now on its tombstone outlives the record. */
    async markDelivered(id: string): Promise<void> {
      await run.MARK_DELIVERED([recordKey(id), tombstoneKey(id)], [tombstoneTtl]);
    },

    /** Whether this caller sends the requester's notice of this kind (once per approval). */
    async claimNotice(id: string, kind: 'posted' | 'ended'): Promise<boolean> {
      return (await run.CLAIM_NOTICE([recordKey(id)], [`notified_${kind}`])) === 1;
    },

    /**
     * Claims the escalation of the approval's card for `leaseMs` (ms; see CLAIM_ESCALATION): `claimed`
     * or `reclaimed` means this caller posts it (`reclaimed`: an earlier claim ended without
     * {@link markEscalated}, so its post may have been carried out: look for it first).
     */
    async claimEscalation(id: string, cardId: string, leaseMs: number): Promise<EscalationClaim> {
      const [kind, leaseEnd] = (await run.CLAIM_ESCALATION([recordKey(id)], [cardId, String(leaseMs)])) as [EscalationClaim['kind'], string?];
      return kind === 'busy' ? { kind, until: Number(leaseEnd) } : ({ kind } as EscalationClaim);
    },

    /** The card's escalation is posted (or was found posted): it is never claimed again. */
    async markEscalated(id: string, cardId: string): Promise<void> {
      await run.MARK_ESCALATED([recordKey(id)], [cardId]);
    },

    /** Ends a claimed escalation's lease at once after its post failed, so that a retry posts it. */
    async releaseEscalation(id: string, cardId: string): Promise<void> {
      await run.RELEASE_ESCALATION([recordKey(id)], [cardId]);
    },

    /**
     * Marks the ending shown on card `cardId` settled (see MARK_SETTLED): never a newer card's.
     * @param shownTs the ts of the message the settler updated (undefined: it knew of none): a card
     *   recorded since, not updated, stays owed.
     * @returns 'own' when it was the approval's own ending, 'older' when that of an older cancelled card
     *   it replaced, 'replaced' when neither (a newer request replaced the approval meanwhile).
     */
    async markSettled(id: string, cardId: string, shownTs: string | undefined): Promise<'own' | 'older' | 'replaced'> {
      const marked = Number(await run.MARK_SETTLED([recordKey(id), outboxKey], [id, cardId, shownTs ?? '']));
      return marked === 1 ? 'own' : marked === 2 ? 'older' : 'replaced';
    },

    /**
     * Claims the settling of the ending shown on card `cardId`, in the outbox, for `leaseMs` (ms), so
     * one settler at a time updates that card; another card's settle neither blocks nor is blocked.
     */
    async claimSettle(id: string, cardId: string, leaseMs: number): Promise<SettleClaim> {
      const token = randomBytes(12).toString('hex');
      const reply = (await run.CLAIM_SETTLE([outboxKey, settleLeaseKey(id, cardId), recordKey(id)], [id, token, String(leaseMs), cardId])) as string[];
      if (reply[0] === 'claimed') return { kind: 'claimed', token, delivered: reply[1] === '1' };
      return { kind: reply[0] as 'busy' | 'settled' };
    },

    /** Extends a card's settle lease while its holder is still at work. @returns false when it was lost. */
    async renewSettle(id: string, cardId: string, token: string, leaseMs: number): Promise<boolean> {
      return (await run.RENEW_LEASE([settleLeaseKey(id, cardId)], [token, String(leaseMs)])) === 1;
    },

    async releaseSettle(id: string, cardId: string, token: string): Promise<void> {
      await run.RELEASE_SETTLE([settleLeaseKey(id, cardId)], [token]);
    },

    /**
     * Endings recorded at least `olderThanMs` ago and not yet settled, oldest first: an approval's
     * own, and each older cancelled card it replaced whose update is still owed, oldest first (as a
     * record of that card: its card id, request, location and cancellation).
     */
    async unsettled(olderThanMs: number, limit: number, now: number): Promise<Unsettled[]> {
      const ids = await redis.zrangebyscore(outboxKey, '-inf', now - olderThanMs, 'LIMIT', 0, limit);
      const found: Unsettled[] = [];
      for (const id of ids) {
        const fields = await redis.hgetall(recordKey(id));
        const record = toRecord(id, fields);
        const older = record && fields.owed_cards ? olderCancelledCards(record, fields.owed_cards) : [];
        for (const card of older) found.push({ record: card, delivered: true });
        const owed = (record?.decision || record?.cancelled) && fields.settled !== '1';
        if (owed) found.push({ record, delivered: fields.delivered === '1' });
        // An approval that expired (or was replaced) before it could be settled has nothing left to do,
        // unless an ending was recorded since the read above: the script checks again as it removes.
        else if (older.length === 0) await run.FORGET_SETTLED([recordKey(id), outboxKey], [id]);
      }
      return found;
    },
  };
}

function toRecord(id: string, fields: Record<string, string>): ApprovalRecord | undefined {
  if (!fields.request || !fields.card_id) return undefined;
  return {
    id,
    cardId: fields.card_id,
    request: JSON.parse(fields.request) as ApprovalRecord['request'],
    createdAt: Number(fields.created_at),
    ...(fields.posted_at ? { postedAt: Number(fields.posted_at) } : {}),
    ...(fields.job_preview ? { jobPreview: fields.job_preview } : {}),
    votes: fields.votes ? (JSON.parse(fields.votes) as Vote[]) : [],
    ...(fields.channel && fields.ts ? { card: { channel: fields.channel, ts: fields.ts } } : {}),
    ...(fields.decision ? { decision: JSON.parse(fields.decision) as Decision } : {}),
    ...(fields.cancelled ? { cancelled: JSON.parse(fields.cancelled) as Cancellation } : {}),
  };
}

/** A tombstone as stored: the binding and order of the request that ended, and how it ended. */
interface Ending {
  binding: string;
  version: string;
  decision?: Decision;
  cancelled?: Cancellation;
}

function endingOf(tombstone: string): Ending {
  return JSON.parse(tombstone) as Ending;
}

function parseSupersedes(raw: string | undefined, candidate: Approval): SupersededCard | undefined {
  if (!raw) return undefined;
  const old = JSON.parse(raw) as { channel: string; ts: string; card_id: string; request: string };
  return { card: { channel: old.channel, ts: old.ts }, approval: { id: candidate.id, cardId: old.card_id, request: JSON.parse(old.request) as Approval['request'], createdAt: candidate.createdAt } };
}

/** The older cancelled cards kept in `owed_cards` (see CLAIM_CARD), oldest first, each as a record of that card. */
function olderCancelledCards(record: ApprovalRecord, raw: string): ApprovalRecord[] {
  const owed = JSON.parse(raw) as { channel: string; ts: string; card_id: string; request: string; cancelled: string }[];
  return owed.map((old) => ({
    id: record.id,
    cardId: old.card_id,
    request: JSON.parse(old.request) as ApprovalRecord['request'],
    createdAt: record.createdAt,
    votes: [],
    card: { channel: old.channel, ts: old.ts },
    cancelled: JSON.parse(old.cancelled) as Cancellation,
  }));
}

function bindingOf(request: Approval['request']): string {
  return `${normalizeHash(request.policy_snapshot)}/${normalizeHash(request.job_hash)}`;
}
