import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createApproval, expiredDecision, type Approval } from '../../src/domain/approval.js';
import { parseRequest } from '../../src/domain/contract.js';
import { createDueTimes, type DueTimes } from '../../src/store/due-times.js';
import { createStore, type Store } from '../../src/store/store.js';
import { auditEntry } from '../../src/store/audit.js';
import { moveLegacyTimers } from '../../src/intake/legacy-timers.js';
import { createLogger } from '../../src/ops/logger.js';
import { validRequest } from '../../sandbox/valid-request.js';

const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
afterAll(() => redis.disconnect());

let prefix: string;
let due: DueTimes;
let store: Store;
beforeEach(() => {
  prefix = `due-test-${randomBytes(4).toString('hex')}`;
  due = createDueTimes(redis, prefix);
  store = createStore(redis, { prefix, audit: { key: `${prefix}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 10_000 });
});

function approvalOf(): Approval {
  const parsed = parseRequest(validRequest());
  if (!parsed.ok) throw new Error(parsed.problems.join());
  return createApproval(parsed.request, Date.now());
}

async function posted(timers: { kind: 'expire' | 'remind' | 'escalate'; at: number }[]): Promise<Approval> {
  const approval = approvalOf();
  const claim = await store.claimCard(approval, '1:1');
  if (claim.kind !== 'claimed') throw new Error(claim.kind);
  await store.saveCard(approval, claim.lease, { channel: 'C0APPROVALS', ts: '1764000000.000100' }, Date.now(), timers);
  return approval;
}

describe('the due times of timers', () => {
  it('are set with the card, and a later card of the approval replaces them', async () => {
    const approval = await posted([{ kind: 'expire', at: 5000 }, { kind: 'remind', at: 3000 }]);
    expect(await redis.zrange(due.key, 0, -1, 'WITHSCORES')).toEqual([`remind:${approval.id}`, '3000', `expire:${approval.id}`, '5000']);
    const claim = await store.claimCard({ ...approval, cardId: 'another' }, '1:1');
    expect(claim.kind).toBe('posted');
  });

  it('a due timer is claimed by one of many sweeps at once, and not again while its lease lasts', async () => {
    const approval = await posted([{ kind: 'expire', at: 1000 }]);
    const claims = await Promise.all(Array.from({ length: 10 }, () => due.claim(2000, 60_000, 10)));
    expect(claims.flat()).toEqual([{ kind: 'expire', approvalId: approval.id, leasedUntil: 62_000 }]);
    expect(await due.claim(61_999, 60_000, 10)).toEqual([]);
  });

  it('a sweep that dies leaves its timer due again when the lease ends, and its late finish changes nothing', async () => {
    const approval = await posted([{ kind: 'expire', at: 1000 }]);
    const [first] = await due.claim(2000, 60_000, 10);
    const [second] = await due.claim(62_000, 60_000, 10);
    expect(second).toEqual({ kind: 'expire', approvalId: approval.id, leasedUntil: 122_000 });
    expect(await due.finish(first!)).toBe(false);
    expect(await redis.zscore(due.key, `expire:${approval.id}`)).toBe('122000');
    expect(await due.finish(second!, 500_000)).toBe(true);
    expect(await redis.zscore(due.key, `expire:${approval.id}`)).toBe('500000');
    expect(await due.finish({ ...second!, leasedUntil: 500_000 })).toBe(true);
    expect(await redis.zcard(due.key)).toBe(0);
  });

  it('a cancellation removes the card’s timers; sweeps for late cards are kept and set once', async () => {
    const approval = await posted([{ kind: 'expire', at: 1000 }, { kind: 'escalate', at: 900 }]);
    await due.scheduleIfAbsent(approval.id, [{ kind: 'sweep0', at: 100 }]);
    await due.scheduleIfAbsent(approval.id, [{ kind: 'sweep0', at: 200 }]);
    await store.cancel(approval, { reason: 'no longer needed', at: new Date().toISOString() }, auditEntry(approval, 'cancelled', 'engine', Date.now()), Date.now());
    expect(await redis.zrange(due.key, 0, -1, 'WITHSCORES')).toEqual([`sweep0:${approval.id}`, '100']);
  });

  it('a decision removes the card’s timers in the step that records it; a vote leaves them', async () => {
    const approval = await posted([{ kind: 'expire', at: Date.now() + 60_000 }, { kind: 'remind', at: 3000 }, { kind: 'escalate', at: 4000 }]);
    await due.scheduleIfAbsent(approval.id, [{ kind: 'sweep0', at: 100 }]);
    const policy = `${prefix}:policy`;
    const vote = { id: 'U1', name: 'u1', at: new Date().toISOString() };
    const counted = await store.recordClick(approval, approval.cardId, { kind: 'vote', votes: [vote] }, await store.loadForClick(approval.id, policy), policy, auditEntry(approval, 'approval_counted', 'U1', Date.now()), Date.now());
    expect(counted).toEqual({ kind: 'counted' });
    expect(await redis.zcard(due.key)).toBe(4);
    const r = approval.request;
    const decision = { run_id: r.run_id, step_id: r.step_id, decision: 'approved' as const, decided_by: { id: 'U2', name: 'u2' }, decided_at: new Date().toISOString(), policy_snapshot: r.policy_snapshot, job_hash: r.job_hash, constraints: {} };
    const read = await store.loadForClick(approval.id, policy);
    const recorded = await store.recordClick(approval, approval.cardId, { kind: 'decision', decision }, read, policy, auditEntry(approval, 'decided', 'U2', Date.now()), Date.now());
    expect(recorded.kind).toBe('recorded');
    expect(await redis.zrange(due.key, 0, -1, 'WITHSCORES')).toEqual([`sweep0:${approval.id}`, '100']);
  });

  it('an expiry removes the card’s timers, and the expiry timer’s own late finish puts nothing back', async () => {
    const approval = await posted([{ kind: 'expire', at: 1000 }, { kind: 'remind', at: 3000 }]);
    const [claimed] = await due.claim(1000, 60_000, 10);
    expect(claimed?.kind).toBe('expire');
    const policy = `${prefix}:policy`;
    const read = await store.loadForClick(approval.id, policy);
    const recorded = await store.recordClick(approval, approval.cardId, { kind: 'decision', decision: expiredDecision(approval, Date.now()) }, read, policy, auditEntry(approval, 'expired', 'expiry', Date.now()), Date.now());
    expect(recorded.kind).toBe('recorded');
    expect(await redis.zcard(due.key)).toBe(0);
    expect(await due.finish(claimed!)).toBe(false);
    expect(await redis.zcard(due.key)).toBe(0);
  });

  it('timers an earlier version left as delayed jobs are moved into the due set at start-up', async () => {
    const queueName = `legacy-${prefix}`;
    const queue = new Queue(queueName, { connection: redis, prefix: 'bull' });
    const expiring = await queue.add('expire', { approvalId: 'ap1', cardId: 'c1' }, { delay: 60_000 });
    await queue.add('remind', { approvalId: 'ap2', cardId: 'c2' }, { delay: 30_000 });
    const log = createLogger('silent');
    expect(await moveLegacyTimers({ connection: redis, queueName, queuePrefix: 'bull', due, log })).toBe(2);
    expect(await redis.zscore(due.key, 'expire:ap1')).toBe(String(expiring.timestamp + 60_000));
    expect(await redis.zcard(due.key)).toBe(2);
    expect(await queue.getJobCountByTypes('delayed', 'wait')).toBe(0);
    expect(await moveLegacyTimers({ connection: redis, queueName: `never-${prefix}`, queuePrefix: 'bull', due, log })).toBe(0);
    expect(await redis.exists(`bull:never-${prefix}:meta`)).toBe(0);
    await queue.obliterate({ force: true });
    await queue.close();
  });
});
