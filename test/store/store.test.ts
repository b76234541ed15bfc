import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createApproval, JOB_PREVIEW_MAX, type Approval } from '../../src/domain/approval.js';
import { auditEntry } from '../../src/store/audit.js';
import { parseRequest, type Decision } from '../../src/domain/contract.js';
import { createStore, type Store } from '../../src/store/store.js';
import { validRequest } from '../../sandbox/valid-request.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());

let store: Store;
let prefix: string;
beforeEach(() => {
  prefix = `store-test-${randomBytes(4).toString('hex')}`;
  store = createStore(redis, { prefix, audit: { key: `${prefix}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 300 });
});

function approvalOf(overrides: Record<string, unknown> = {}): Approval {
  const parsed = parseRequest(validRequest(overrides));
  if (!parsed.ok) throw new Error(parsed.problems.join());
  return createApproval(parsed.request, Date.now());
}

const card = { channel: 'C0APPROVALS', ts: '1764000000.000100' };

describe('the approval store', () => {
  it('lets exactly one of many concurrent deliveries post the card', async () => {
    const data = validRequest();
    const claims = await Promise.all(
      Array.from({ length: 20 }, () => {
        const parsed = parseRequest(data);
        if (!parsed.ok) throw new Error(parsed.problems.join());
        return store.claimCard(createApproval(parsed.request, Date.now()), '1:1');
      }),
    );
    expect(claims.filter((c) => c.kind === 'claimed')).toHaveLength(1);
    expect(claims.filter((c) => c.kind === 'busy')).toHaveLength(19);
  });

  it('answers later deliveries with the card once it is saved', async () => {
    const approval = approvalOf();
    const claim = await store.claimCard(approval, '1:1');
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    expect(await store.saveCard(approval, claim.lease, card, Date.now())).toEqual({ kind: 'saved' });
    expect(await store.claimCard({ ...approval, cardId: 'another' }, '1:1')).toEqual({ kind: 'posted', card });
    expect(await store.findCard(approval.id)).toEqual(card);
  });

  it('keeps the first card recorded when a second one is saved', async () => {
    const approval = approvalOf();
    const claim = await store.claimCard(approval, '1:1');
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    await store.saveCard(approval, claim.lease, card, Date.now());
    expect(await store.saveCard(approval, 'stale-lease', { channel: card.channel, ts: '1764000001.000200' }, Date.now())).toEqual({ kind: 'other', card });
  });

  it('a later request for the same run and step with another job hash replaces a pending one; an older one never does', async () => {
    const approval = approvalOf({ run_id: 'run-supersede' });
    const claim = await store.claimCard(approval, '1:1');
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    await store.saveCard(approval, claim.lease, card, Date.now());
    const newer = approvalOf({ run_id: 'run-supersede', job: { different: true } });
    const replaced = await store.claimCard(newer, '2:2');
    expect(replaced).toMatchObject({ kind: 'claimed', ambiguous: false, approval: { cardId: newer.cardId }, superseded: { card, approval: { cardId: approval.cardId } } });
    expect(await store.claimCard(approval, '1:1')).toEqual({ kind: 'outdated' });
    // The older delivery that was still posting finds its card replaced.
    expect(await store.saveCard(approval, 'old-lease', { channel: card.channel, ts: '1.000001' }, Date.now())).toEqual({ kind: 'replaced' });
  });

  it('refuses another job hash for a run and step already decided', async () => {
    const approval = approvalOf({ run_id: 'run-decided' });
    const claim = await store.claimCard(approval, '1:1');
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    await store.saveCard(approval, claim.lease, card, Date.now());
    await redis.set(`${prefix}:policy`, 'abcdef12');
    const read = await store.loadForClick(approval.id, `${prefix}:policy`);
    const r = approval.request;
    const decision = { run_id: r.run_id, step_id: r.step_id, decision: 'denied' as const, decided_by: { id: 'U1', name: 'u1' }, decided_at: new Date().toISOString(), policy_snapshot: r.policy_snapshot, job_hash: r.job_hash, constraints: {} };
    await store.recordClick(approval, approval.cardId, { kind: 'decision', decision }, read, `${prefix}:policy`, auditEntry(approval, 'decided', 'U1', Date.now()), Date.now());
    expect(await store.claimCard(approvalOf({ run_id: 'run-decided', job: { other: 1 } }), '2:2')).toEqual({ kind: 'conflict' });
  });

  it('an approval cancelled while its card was being posted is queued to show it on the new card', async () => {
    const approval = approvalOf();
    const claim = await store.claimCard(approval, '1:1');
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    await store.cancel(approval, { reason: 'no longer needed', at: new Date().toISOString() }, auditEntry(approval, 'cancelled', 'engine', Date.now()), Date.now());
    expect(await store.unsettled(0, 10, Date.now() + 1)).toEqual([]);
    await store.saveCard(approval, claim.lease, card, Date.now() - 5000);
    expect(await store.unsettled(2000, 10, Date.now())).toEqual([{ record: expect.objectContaining({ id: approval.id, card, cancelled: expect.objectContaining({ reason: 'no longer needed' }) }), delivered: false }]);
  });

  it('a cancel before the request leaves a tombstone: the request posts nothing', async () => {
    const approval = approvalOf({ run_id: 'run-cancel-first' });
    const entry = auditEntry(approval, 'cancelled', 'engine', Date.now(), { reason: 'not needed' });
    expect(await store.cancel(approval, { reason: 'not needed', at: new Date().toISOString() }, entry, Date.now())).toEqual({ kind: 'cancelled' });
    expect(await store.claimCard(approval, '1:1')).toEqual({ kind: 'cancelled' });
    expect(await store.pendingIds()).not.toContain(approval.id);
  });

  it('hands the card to another delivery after the holder crashed, flagged as possibly posted', async () => {
    const approval = approvalOf();
    const first = await store.claimCard(approval, '1:1');
    expect(first.kind).toBe('claimed');
    expect((await store.claimCard(approval, '1:1')).kind).toBe('busy');
    await delay(350);
    const second = await store.claimCard({ ...approval, cardId: 'fresh-nonce' }, '1:1');
    expect(second).toMatchObject({ kind: 'claimed', ambiguous: true, approval: { cardId: approval.cardId, createdAt: approval.createdAt } });
  });

  it('after a failure Slack certainly did not apply, the next attempt need not look for a card', async () => {
    const approval = approvalOf();
    const first = await store.claimCard(approval, '1:1');
    if (first.kind !== 'claimed') throw new Error(first.kind);
    expect(await store.releaseAfterFailure(approval.id, first.lease, true)).toBe(1);
    const second = await store.claimCard(approval, '1:1');
    expect(second).toMatchObject({ kind: 'claimed', ambiguous: false });
    if (second.kind !== 'claimed') throw new Error(second.kind);
    expect(await store.releaseAfterFailure(approval.id, second.lease, false)).toBe(2);
    expect(await store.claimCard(approval, '1:1')).toMatchObject({ kind: 'claimed', ambiguous: true });
  });

  it('renews the lease only for its holder', async () => {
    const approval = approvalOf();
    const claim = await store.claimCard(approval, '1:1');
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    expect(await store.renewLease(approval.id, 'not-the-holder')).toBe(false);
    expect(await store.renewLease(approval.id, claim.lease)).toBe(true);
  });

  it('forgets an approval abandoned for good, so the request can be sent again', async () => {
    const approval = approvalOf();
    const claim = await store.claimCard(approval, '1:1');
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    expect(await store.abandon(approval.id, claim.lease)).toBe(true);
    expect(await store.claimCard({ ...approval, cardId: 'new-card' }, '1:1')).toMatchObject({ kind: 'claimed', ambiguous: false, approval: { cardId: 'new-card' } });
  });

  it('keeps a pending approval until it expires plus the retention period, one that never expires until it ends', async () => {
    const expiring = approvalOf();
    const claim = await store.claimCard(expiring, '1:1', expiring.createdAt + 600_000);
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    await store.saveCard(expiring, claim.lease, card, Date.now());
    const ttl = await redis.ttl(`${prefix}:approval:${expiring.id}`);
    expect(ttl).toBeGreaterThan(600 + 3600 - 10);
    expect(ttl).toBeLessThanOrEqual(600 + 3600);

    const waiting = approvalOf();
    await store.claimCard(waiting, '1:1');
    expect(await redis.ttl(`${prefix}:approval:${waiting.id}`)).toBe(-1);
  });

  it('stores a small record: the request without its job, and at most JOB_PREVIEW_MAX characters of the job to show', async () => {
    const approval = approvalOf({ job: { blob: 'x'.repeat(50_000) } });
    await store.claimCard(approval, '1:1');
    const stored = await redis.hget(`${prefix}:approval:${approval.id}`, 'request');
    expect(JSON.parse(stored!)).not.toHaveProperty('job');
    // Far below the 50,000 characters of the job (the allocator rounds the preview's 6,000 bytes up).
    expect(await redis.memory('USAGE', `${prefix}:approval:${approval.id}`)).toBeLessThan(2 * JOB_PREVIEW_MAX);
    const small = approvalOf({ job: { sql: 'SELECT 1' } });
    await store.claimCard(small, '1:1');
    expect(await redis.memory('USAGE', `${prefix}:approval:${small.id}`)).toBeLessThan(2048);
  });
});

describe('recording decisions', () => {
  const SNAPSHOT_KEY = () => `${prefix}:policy`;

  async function postedApproval(): Promise<Approval> {
    const approval = approvalOf();
    const claim = await store.claimCard(approval, '1:1');
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    await store.saveCard(approval, claim.lease, card, Date.now());
    await redis.set(SNAPSHOT_KEY(), 'abcdef12');
    return approval;
  }

  async function record(approval: Approval, cardId: string, decision: Decision, now = Date.now()) {
    const read = await store.loadForClick(approval.id, SNAPSHOT_KEY());
    return store.recordClick(approval, cardId, { kind: 'decision', decision }, read, SNAPSHOT_KEY(), auditEntry(approval, 'decided', decision.decided_by.id, now), now);
  }

  function decisionBy(user: string, approval: Approval): Decision {
    const r = approval.request;
    return { run_id: r.run_id, step_id: r.step_id, decision: 'approved', decided_by: { id: user, name: user }, decided_at: new Date().toISOString(), policy_snapshot: r.policy_snapshot, job_hash: r.job_hash, constraints: {} };
  }

  it('the first decision wins, however many race for it', async () => {
    const approval = await postedApproval();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => record(approval, approval.cardId, decisionBy(`U${i}`, approval), Date.now())),
    );
    const recorded = results.filter((r) => r.kind === 'recorded');
    expect(recorded).toHaveLength(1);
    const { record: stored } = await store.loadForClick(approval.id, SNAPSHOT_KEY());
    for (const result of results.filter((r) => r.kind !== 'recorded')) expect(result).toEqual({ kind: 'decided', decision: stored!.decision });
  });

  it('an escalation is claimed by one caller at a time, only for the current card of a pending approval, and is taken again after a failed post or a lease that ran out', async () => {
    const approval = await postedApproval();
    expect(await store.claimEscalation(approval.id, 'old-card', 60_000)).toEqual({ kind: 'ended' });
    const claims = await Promise.all(Array.from({ length: 10 }, () => store.claimEscalation(approval.id, approval.cardId, 60_000)));
    expect(claims.filter((c) => c.kind === 'claimed')).toHaveLength(1);
    expect(claims.filter((c) => c.kind === 'busy')).toHaveLength(9);
    // A failed post ends the lease at once; the next caller looks for the earlier post first.
    await store.releaseEscalation(approval.id, approval.cardId);
    expect(await store.claimEscalation(approval.id, approval.cardId, 200)).toEqual({ kind: 'reclaimed' });
    // A holder that died mid-post: its lease runs out, and the claim is taken again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await store.claimEscalation(approval.id, approval.cardId, 60_000)).toEqual({ kind: 'reclaimed' });
    await store.markEscalated(approval.id, approval.cardId);
    expect(await store.claimEscalation(approval.id, approval.cardId, 60_000)).toEqual({ kind: 'done' });
    const other = await postedApproval();
    await record(other, other.cardId, decisionBy('U1', other));
    expect(await store.claimEscalation(other.id, other.cardId, 60_000)).toEqual({ kind: 'ended' });
  });

  it('refuses a decision for a card that is not the current one', async () => {
    const approval = await postedApproval();
    expect(await record(approval, 'old-card', decisionBy('U1', approval), Date.now())).toEqual({ kind: 'superseded' });
  });

  it('refuses when the policy snapshot or the approvals counted changed since they were read', async () => {
    const approval = await postedApproval();
    const decide = (read: Awaited<ReturnType<Store['loadForClick']>>) =>
      store.recordClick(approval, approval.cardId, { kind: 'decision', decision: decisionBy('U1', approval) }, read, SNAPSHOT_KEY(), auditEntry(approval, 'decided', 'U1', Date.now()), Date.now());
    const before = await store.loadForClick(approval.id, SNAPSHOT_KEY());
    await redis.set(SNAPSHOT_KEY(), 'fedcba98');
    expect(await decide(before)).toEqual({ kind: 'changed' });

    const read = await store.loadForClick(approval.id, SNAPSHOT_KEY());
    const vote = { id: 'U2', name: 'u2', at: new Date().toISOString() };
    expect(await store.recordClick(approval, approval.cardId, { kind: 'vote', votes: [vote] }, read, SNAPSHOT_KEY(), auditEntry(approval, 'approval_counted', 'U2', Date.now()), Date.now())).toEqual({ kind: 'counted' });
    expect(await decide(read)).toEqual({ kind: 'changed' });
    const after = await store.loadForClick(approval.id, SNAPSHOT_KEY());
    expect(after.record!.votes).toEqual([vote]);
    expect(await decide(after)).toEqual({ kind: 'recorded' });
  });

  it('keeps a recorded decision in the outbox until it is delivered and its card updated', async () => {
    const approval = await postedApproval();
    const decidedAt = Date.now() - 5000;
    await record(approval, approval.cardId, decisionBy('U1', approval), decidedAt);
    // Decided: kept for the retention period from now on.
    expect(await redis.ttl(`${prefix}:approval:${approval.id}`)).toBeGreaterThan(3590);
    expect(await store.unsettled(2000, 10, Date.now())).toEqual([{ record: expect.objectContaining({ id: approval.id, card, decision: expect.objectContaining({ decided_by: { id: 'U1', name: 'U1' } }) }), delivered: false }]);
    expect(await store.unsettled(10_000, 10, Date.now())).toEqual([]);
    await store.markDelivered(approval.id);
    expect(await store.unsettled(2000, 10, Date.now())).toEqual([expect.objectContaining({ delivered: true })]);
    await store.markSettled(approval.id, approval.cardId, card.ts);
    expect(await store.unsettled(2000, 10, Date.now())).toEqual([]);
  });

  it('drops an outbox entry whose approval has expired', async () => {
    const approval = await postedApproval();
    await record(approval, approval.cardId, decisionBy('U1', approval), Date.now() - 5000);
    await redis.del(`${prefix}:approval:${approval.id}`);
    expect(await store.unsettled(2000, 10, Date.now())).toEqual([]);
    expect(await redis.zcard(`${prefix}:outbox`)).toBe(0);
  });
});
