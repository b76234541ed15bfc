import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createApproval, type Approval } from '../../src/domain/approval.js';
import { parseRequest } from '../../src/domain/contract.js';
import { enqueueOrder } from '../../src/domain/enqueue-order.js';
import { createStore, type Store } from '../../src/store/store.js';
import { validRequest } from '../../sandbox/valid-request.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());

let store: Store;
let prefix: string;
const SNAPSHOT_KEY = () => `${prefix}:policy`;
beforeEach(() => {
  prefix = `order-test-${randomBytes(4).toString('hex')}`;
  store = createStore(redis, { prefix, audit: { key: `${prefix}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 300 });
});

function approvalOf(overrides: Record<string, unknown> = {}): Approval {
  const parsed = parseRequest(validRequest(overrides));
  if (!parsed.ok) throw new Error(parsed.problems.join());
  return createApproval(parsed.request, Date.now());
}

describe('enqueue order', () => {
  it('is the job’s timestamp in whole milliseconds and its id', () => {
    expect(enqueueOrder({ timestamp: 1764000000123, id: '42' })).toBe('1764000000123:42');
    expect(enqueueOrder({ timestamp: 1764000000123.7, id: 'policy-9' })).toBe('1764000000123:policy-9');
    expect(enqueueOrder({ timestamp: -5, id: '1' })).toBe('0:1');
    expect(enqueueOrder({ timestamp: Number.NaN, id: undefined })).toBe('0:');
  });

  // Each pair: the first was enqueued before the second.
  const PAIRS: [string, string, string][] = [
    ['9 before 10', '1000:9', '1000:10'],
    ['99 before 100', '1000:99', '1000:100'],
    ['999 before 1000', '1000:999', '1000:1000'],
    ['an earlier millisecond first, whatever the id', '1000:99999', '1001:1'],
    ['ids beyond 2^53, exactly', '1000:9007199254740993', '1000:9007199254740994'],
    ['ids of 30 digits', `1000:${'9'.repeat(30)}`, `1000:1${'0'.repeat(30)}`],
    ['custom ids: digit runs as numbers', '1000:policy-9', '1000:policy-10'],
    ['custom ids: several digit runs', '1000:run-2-step-10', '1000:run-10-step-2'],
    ['custom ids: other characters byte by byte', '1000:policy-a', '1000:policy-b'],
    ['a custom id that is a prefix of another', '1000:policy', '1000:policy-1'],
    ['leading zeros: equal numbers, then the bytes', '1000:007', '1000:7'],
    ['a default id before a custom one in the same millisecond', '1000:12', '1000:policy-1'],
    ['an empty id first', '1000:', '1000:1'],
  ];

  it.each(PAIRS)('policy jobs: %s', async (_what, earlier, later) => {
    expect(await store.setPolicy(SNAPSHOT_KEY(), 'aaaaaaaa', earlier)).toBe(true);
    expect(await store.setPolicy(SNAPSHOT_KEY(), 'bbbbbbbb', later)).toBe(true);
    expect(await store.setPolicy(SNAPSHOT_KEY(), 'aaaaaaaa', earlier)).toBe(false);
    expect(await redis.get(SNAPSHOT_KEY())).toBe('bbbbbbbb');
    // The same job run again (a retry) sets it again, so it goes on to end what is stale.
    expect(await store.setPolicy(SNAPSHOT_KEY(), 'bbbbbbbb', later)).toBe(true);
  });

  it.each(PAIRS)('requests for one step: %s', async (_what, earlier, later) => {
    const first = approvalOf({ run_id: 'run-order' });
    const second = approvalOf({ run_id: 'run-order', job: { second: true } });
    expect(await store.claimCard(first, earlier)).toMatchObject({ kind: 'claimed' });
    expect(await store.claimCard(second, later)).toMatchObject({ kind: 'claimed', approval: { cardId: second.cardId } });
    expect(await store.claimCard(first, earlier)).toEqual({ kind: 'outdated' });
  });

  it('a policy order written before ids were kept (ms × 1000 + the id’s last three digits) comes first within its millisecond', async () => {
    await redis.set(`${prefix}:policy-version`, '1000007');
    expect(await store.setPolicy(SNAPSHOT_KEY(), 'aaaaaaaa', '999:99')).toBe(false);
    expect(await store.setPolicy(SNAPSHOT_KEY(), 'bbbbbbbb', '1000:1')).toBe(true);
    await redis.set(`${prefix}:policy-version`, '1001000');
    expect(await store.setPolicy(SNAPSHOT_KEY(), 'cccccccc', '1000:99999')).toBe(false);
    expect(await redis.get(SNAPSHOT_KEY())).toBe('bbbbbbbb');
  });

  it('a request recorded before ids were kept (its enqueue time alone) comes first within its millisecond', async () => {
    const first = approvalOf({ run_id: 'run-legacy' });
    await store.claimCard(first, '1000:5');
    await redis.hset(`${prefix}:approval:${first.id}`, 'version', '1000');
    expect(await store.claimCard(approvalOf({ run_id: 'run-legacy', job: { older: true } }), '999:99')).toEqual({ kind: 'outdated' });
    expect(await store.claimCard(approvalOf({ run_id: 'run-legacy', job: { newer: true } }), '1000:1')).toMatchObject({ kind: 'claimed' });
  });
});
