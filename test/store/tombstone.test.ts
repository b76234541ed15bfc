import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createApproval, type Approval } from '../../src/domain/approval.js';
import { auditEntry } from '../../src/store/audit.js';
import { parseRequest, type Decision } from '../../src/domain/contract.js';
import { createStore, type Store } from '../../src/store/store.js';
import { validRequest } from '../../sandbox/valid-request.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());

const TOMBSTONE_SEC = 7200;
let store: Store;
let prefix: string;
const SNAPSHOT_KEY = () => `${prefix}:policy`;
beforeEach(async () => {
  prefix = `tombstone-test-${randomBytes(4).toString('hex')}`;
  store = createStore(redis, { prefix, audit: { key: `${prefix}:audit`, maxLen: 1000 }, retentionSec: 3600, tombstoneSec: TOMBSTONE_SEC, leaseMs: 300 });
  await redis.set(SNAPSHOT_KEY(), '7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c');
});

const recordKey = (approval: Approval) => `${prefix}:approval:${approval.id}`;
const tombstoneKey = (approval: Approval) => `${prefix}:tombstone:${approval.id}`;

function approvalOf(overrides: Record<string, unknown> = {}): Approval {
  const parsed = parseRequest(validRequest(overrides));
  if (!parsed.ok) throw new Error(parsed.problems.join());
  return createApproval(parsed.request, Date.now());
}

/** A posted approval, decided (with numbers in its constraints that must come back byte for byte) and delivered. */
async function decided(approval: Approval): Promise<Decision> {
  const claim = await store.claimCard(approval, '1000:1');
  if (claim.kind !== 'claimed') throw new Error(claim.kind);
  await store.saveCard(approval, claim.lease, { channel: 'C0APPROVALS', ts: '1764000000.000100' }, Date.now());
  const r = approval.request;
  const decision: Decision = {
    run_id: r.run_id, step_id: r.step_id, decision: 'approved', decided_by: { id: 'U0ALICE', name: 'alice', team_id: 'T0SANDBOX' },
    decided_at: new Date().toISOString(), policy_snapshot: r.policy_snapshot, job_hash: r.job_hash, constraints: r.constraints ?? {},
    approvals: [{ id: 'U0ALICE', name: 'alice', at: new Date().toISOString() }],
  };
  const read = await store.loadForClick(approval.id, SNAPSHOT_KEY());
  const result = await store.recordClick(approval, approval.cardId, { kind: 'decision', decision }, read, SNAPSHOT_KEY(), auditEntry(approval, 'decided', 'U0ALICE', Date.now()), Date.now());
  if (result.kind !== 'recorded') throw new Error(result.kind);
  await store.markDelivered(approval.id);
  return decision;
}

describe('tombstones', () => {
  it('a delivered decision leaves one for DECISION_TOMBSTONE_SEC; once the record is gone, the same request gets the decision, another binding a conflict', async () => {
    const approval = approvalOf({ constraints: { max_rows: 0.1234567890123456, limit: 9007199254740991, tiny: 5e-324, ok: true } });
    const decision = await decided(approval);
    expect(await redis.ttl(tombstoneKey(approval))).toBeGreaterThan(TOMBSTONE_SEC - 10);
    // While the record exists it answers, as before.
    expect(await store.claimCard(approval, '2000:2')).toMatchObject({ kind: 'posted' });

    await redis.del(recordKey(approval));
    expect(await store.claimCard({ ...approval, cardId: 'again' }, '2000:2')).toEqual({ kind: 'decided', decision });
    expect(await store.claimCard(approvalOf({ run_id: approval.request.run_id, job: { other: 1 } }), '3000:3')).toEqual({ kind: 'conflict' });
    expect(await redis.exists(recordKey(approval))).toBe(0);
    // A cancel then changes nothing.
    const cancel = await store.cancel(approval, { reason: 'late', at: new Date().toISOString() }, auditEntry(approval, 'cancelled', 'engine', Date.now()), Date.now());
    expect(cancel).toEqual({ kind: 'decided', decision });
  });

  it('a cancellation leaves one: the same request later posts nothing, a request with another binding enqueued later may', async () => {
    const approval = approvalOf({ run_id: 'run-cancelled' });
    await store.claimCard(approval, '1000:1');
    await store.cancel(approval, { reason: 'no longer needed', at: new Date().toISOString() }, auditEntry(approval, 'cancelled', 'engine', Date.now()), Date.now());
    expect(await redis.ttl(tombstoneKey(approval))).toBeGreaterThan(TOMBSTONE_SEC - 10);
    await redis.del(recordKey(approval));

    expect(await store.claimCard(approval, '2000:2')).toEqual({ kind: 'cancelled' });
    expect(await store.cancel(approval, { reason: 'again', at: new Date().toISOString() }, auditEntry(approval, 'cancelled', 'engine', Date.now()), Date.now())).toEqual({ kind: 'already' });
    expect(await store.claimCard(approvalOf({ run_id: 'run-cancelled', job: { older: 1 } }), '999:1')).toEqual({ kind: 'outdated' });
    expect(await store.claimCard(approvalOf({ run_id: 'run-cancelled', job: { newer: 1 } }), '2000:2')).toMatchObject({ kind: 'claimed' });
  });

  it('a cancel before any request leaves one that stands for every binding', async () => {
    const approval = approvalOf({ run_id: 'run-cancel-first' });
    await store.cancel(approval, { reason: 'not needed', at: new Date().toISOString() }, auditEntry(approval, 'cancelled', 'engine', Date.now()), Date.now());
    await redis.del(recordKey(approval));
    expect(await store.claimCard(approval, '2000:2')).toEqual({ kind: 'cancelled' });
    expect(await store.claimCard(approvalOf({ run_id: 'run-cancel-first', job: { other: 1 } }), '3000:3')).toEqual({ kind: 'cancelled' });
  });

  it('is small: a typical decision’s tombstone takes well under 1 KiB', async () => {
    const approval = approvalOf();
    await decided(approval);
    const bytes = Number(await redis.memory('USAGE', tombstoneKey(approval)));
    const record = Number(await redis.memory('USAGE', recordKey(approval)));
    console.info(`tombstone: ${bytes} bytes in Redis (MEMORY USAGE), value ${(await redis.get(tombstoneKey(approval)))!.length} characters; the full record: ${record} bytes`);
    expect(bytes).toBeLessThan(1024);
  });
});
