import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, expect, inject, it } from 'vitest';
import { createApproval, type Approval } from '../../src/domain/approval.js';
import { parseRequest } from '../../src/domain/contract.js';
import { auditEntry } from '../../src/store/audit.js';
import { createStore } from '../../src/store/store.js';
import { validRequest } from '../../sandbox/valid-request.js';

/** A cancelled card replaced by a newer request on the same step (same approval id): each card's ending is settled on its own. */

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());

function setUp() {
  const prefix = `settle-per-card-${randomBytes(4).toString('hex')}`;
  const store = createStore(redis, { prefix, audit: { key: `${prefix}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 10_000 });
  const approvalOf = (job: unknown) => {
    const parsed = parseRequest(validRequest({ run_id: `run-${prefix}`, step_id: 'deploy', job }));
    if (!parsed.ok) throw new Error(parsed.problems.join());
    return createApproval(parsed.request, Date.now());
  };
  const post = async (approval: Approval, version: string, ts: string) => {
    const claim = await store.claimCard(approval, version);
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    await store.saveCard(approval, claim.lease, { channel: 'C0APPROVALS', ts }, Date.now() - 5000);
  };
  const cancel = (approval: Approval) => store.cancel(approval, { reason: 'not needed', at: new Date().toISOString() }, auditEntry(approval, 'cancelled', 'engine', Date.now()), Date.now() - 5000);
  return { prefix, store, approvalOf, post, cancel };
}

it('a cancelled card still owed its update is kept for the drain when a newer request replaces it, and settled on its own lease and mark', async () => {
  const { prefix, store, approvalOf, post, cancel } = setUp();
  const first = approvalOf({ version: 1 });
  await post(first, '1:1', '1764000000.000100');
  await cancel(first);
  const second = approvalOf({ version: 2 });
  await post(second, '2:2', '1764000000.000200');

  // A retry of the newer request is not asked to mark it superseded, nor can it forget it: it is the outbox's.
  expect(await store.claimCard(second, '2:2')).toEqual({ kind: 'posted', card: { channel: 'C0APPROVALS', ts: '1764000000.000200' } });
  await store.clearSuperseded(second.id, first.cardId);
  // The drain sees the older card's cancellation, not the newer pending request.
  expect(await store.unsettled(2000, 10, Date.now())).toEqual([
    { record: expect.objectContaining({ cardId: first.cardId, card: { channel: 'C0APPROVALS', ts: '1764000000.000100' }, cancelled: expect.objectContaining({ reason: 'not needed' }) }), delivered: true },
  ]);
  // Each card has its own lease: the older card's settle holds nothing of the newer one's.
  expect(await store.claimSettle(first.id, first.cardId, 15_000)).toMatchObject({ kind: 'claimed', delivered: true });
  expect(await store.claimSettle(first.id, first.cardId, 15_000)).toEqual({ kind: 'busy' });
  expect(await store.claimSettle(second.id, second.cardId, 15_000)).toEqual({ kind: 'settled' });
  // A card the approval never showed marks nothing.
  expect(await store.markSettled(first.id, 'some-other-card', undefined)).toBe('replaced');
  expect(await redis.zscore(`${prefix}:outbox`, first.id)).not.toBeNull();
  expect(await store.markSettled(first.id, first.cardId, '1764000000.000100')).toBe('older');
  expect(await redis.hget(`${prefix}:approval:${second.id}`, 'settled')).toBeNull();
  expect(await redis.zscore(`${prefix}:outbox`, first.id)).toBeNull();
  expect(await store.unsettled(2000, 10, Date.now())).toEqual([]);
});

it('the outbox entry stays while the newer ending is owed after the older card is settled, and the other way round', async () => {
  const { prefix, store, approvalOf, post, cancel } = setUp();
  const first = approvalOf({ version: 1 });
  await post(first, '1:1', '1764000000.000100');
  await cancel(first);
  const second = approvalOf({ version: 2 });
  await post(second, '2:2', '1764000000.000200');
  await cancel(second);

  expect((await store.unsettled(2000, 10, Date.now())).map(({ record }) => record.cardId)).toEqual([first.cardId, second.cardId]);
  expect(await store.markSettled(first.id, first.cardId, '1764000000.000100')).toBe('older');
  expect(await redis.zscore(`${prefix}:outbox`, first.id)).not.toBeNull();
  expect((await store.unsettled(2000, 10, Date.now())).map(({ record }) => record.cardId)).toEqual([second.cardId]);
  // Settled: a second settle of the same card claims nothing.
  expect(await store.markSettled(second.id, second.cardId, '1764000000.000200')).toBe('own');
  expect(await store.claimSettle(second.id, second.cardId, 15_000)).toEqual({ kind: 'settled' });
  expect(await redis.zscore(`${prefix}:outbox`, first.id)).toBeNull();
});

it('the drain never removes an outbox entry an ending added after it read the record (a cancel between its read and its removal)', async () => {
  const { prefix, store, approvalOf, post, cancel } = setUp();
  const approval = approvalOf({ version: 1 });
  await post(approval, '1:1', '1764000000.000300');
  // A stale entry for the pending approval (left by a replaced card): the drain forgets it.
  await redis.zadd(`${prefix}:outbox`, Date.now() - 10_000, approval.id);
  // The drain's own connection, on which the approval is cancelled right after the drain has read it.
  const drainConnection = new Redis(inject('redisUrl'));
  try {
    const drainStore = createStore(drainConnection, { prefix, audit: { key: `${prefix}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 10_000 });
    const read = drainConnection.hgetall.bind(drainConnection) as (key: string) => Promise<Record<string, string>>;
    let cancelled = false;
    (drainConnection as unknown as { hgetall: (key: string) => Promise<Record<string, string>> }).hgetall = async (key: string) => {
      const fields = await read(key);
      if (!cancelled) {
        cancelled = true;
        expect(await cancel(approval)).toEqual({ kind: 'cancelled' });
      }
      return fields;
    };
    expect(await drainStore.unsettled(2000, 10, Date.now())).toEqual([]);
  } finally {
    drainConnection.disconnect();
  }
  // The cancellation is still owed, and the next drain finds it.
  expect(await redis.zscore(`${prefix}:outbox`, approval.id)).not.toBeNull();
  expect(await store.unsettled(0, 10, Date.now() + 1)).toEqual([{ record: expect.objectContaining({ cardId: approval.cardId, cancelled: expect.objectContaining({ reason: 'not needed' }) }), delivered: false }]);
});

it('a cancelled card still owed its update is kept when the request that replaced it is itself replaced before its card is posted', async () => {
  const { store, approvalOf, post, cancel } = setUp();
  const first = approvalOf({ version: 1 });
  await post(first, '1:1', '1764000000.000100');
  await cancel(first);
  // The second request claims its card but has not posted it yet when a third one comes.
  const second = approvalOf({ version: 2 });
  expect((await store.claimCard(second, '2:2')).kind).toBe('claimed');
  const third = approvalOf({ version: 3 });
  await post(third, '3:3', '1764000000.000300');

  expect(await store.unsettled(2000, 10, Date.now())).toEqual([
    { record: expect.objectContaining({ cardId: first.cardId, card: { channel: 'C0APPROVALS', ts: '1764000000.000100' }, cancelled: expect.objectContaining({ reason: 'not needed' }) }), delivered: true },
  ]);
  expect(await store.claimSettle(first.id, first.cardId, 15_000)).toMatchObject({ kind: 'claimed', delivered: true });
  expect(await store.markSettled(first.id, first.cardId, '1764000000.000100')).toBe('older');
  expect(await store.unsettled(2000, 10, Date.now())).toEqual([]);
});

it('a cancelled card still owed its update is kept when the request that replaced it is itself replaced after its card is posted, and that card is still marked superseded', async () => {
  const { store, approvalOf, post, cancel } = setUp();
  const first = approvalOf({ version: 1 });
  await post(first, '1:1', '1764000000.000100');
  await cancel(first);
  const second = approvalOf({ version: 2 });
  await post(second, '2:2', '1764000000.000200');
  const third = approvalOf({ version: 3 });
  const claim = await store.claimCard(third, '3:3');

  // The second (pending) card is for the newer request to mark superseded; the first (cancelled) one is the outbox's.
  expect(claim).toMatchObject({ kind: 'claimed', superseded: { card: { ts: '1764000000.000200' }, approval: { cardId: second.cardId } } });
  expect(await store.unsettled(2000, 10, Date.now())).toEqual([
    { record: expect.objectContaining({ cardId: first.cardId, card: { channel: 'C0APPROVALS', ts: '1764000000.000100' } }), delivered: true },
  ]);
  expect(await store.markSettled(first.id, first.cardId, '1764000000.000100')).toBe('older');
  expect(await store.unsettled(2000, 10, Date.now())).toEqual([]);
});

it('two cancelled cards still owed their updates are both kept when a third request replaces the step, each settled on its own', async () => {
  const { prefix, store, approvalOf, post, cancel } = setUp();
  const first = approvalOf({ version: 1 });
  await post(first, '1:1', '1764000000.000100');
  await cancel(first);
  const second = approvalOf({ version: 2 });
  await post(second, '2:2', '1764000000.000200');
  await cancel(second);
  const third = approvalOf({ version: 3 });
  await post(third, '3:3', '1764000000.000300');

  expect((await store.unsettled(2000, 10, Date.now())).map(({ record }) => [record.cardId, record.card?.ts])).toEqual([
    [first.cardId, '1764000000.000100'],
    [second.cardId, '1764000000.000200'],
  ]);
  expect(await store.claimSettle(second.id, second.cardId, 15_000)).toMatchObject({ kind: 'claimed', delivered: true });
  expect(await store.markSettled(second.id, second.cardId, '1764000000.000200')).toBe('older');
  expect(await redis.zscore(`${prefix}:outbox`, first.id)).not.toBeNull();
  expect(await store.markSettled(first.id, first.cardId, '1764000000.000100')).toBe('older');
  expect(await redis.zscore(`${prefix}:outbox`, first.id)).toBeNull();
  expect(await store.unsettled(2000, 10, Date.now())).toEqual([]);
});

it('marking an older card superseded forgets only that card: a newer replacement made meanwhile is still to be marked', async () => {
  const { store, approvalOf, post } = setUp();
  const first = approvalOf({ version: 1 });
  await post(first, '1:1', '1764000000.000100');
  const second = approvalOf({ version: 2 });
  await post(second, '2:2', '1764000000.000200');
  // While the second request is still marking the first card superseded, a third replaces the second.
  const third = approvalOf({ version: 3 });
  await post(third, '3:3', '1764000000.000300');
  await store.clearSuperseded(first.id, first.cardId);

  // A retry of the third request still finds the second card to mark.
  expect(await store.claimCard(third, '3:3')).toMatchObject({ kind: 'posted', superseded: { card: { ts: '1764000000.000200' }, approval: { cardId: second.cardId } } });
  await store.clearSuperseded(second.id, second.cardId);
  expect(await store.claimCard(third, '3:3')).toEqual({ kind: 'posted', card: { channel: 'C0APPROVALS', ts: '1764000000.000300' } });
});

it('a request that replaced a cancelled card, and was itself cancelled before its card could be posted, is not replaced by its own retry once abandoned', async () => {
  const { store, approvalOf, post, cancel } = setUp();
  const first = approvalOf({ version: 1 });
  await post(first, '1:1', '1764000000.000100');
  await cancel(first);
  const second = approvalOf({ version: 2 });
  const claim = await store.claimCard(second, '2:2');
  if (claim.kind !== 'claimed') throw new Error(claim.kind);
  // The engine cancels the second request while its card is posted; then Slack refuses that card for good.
  await cancel(second);
  expect(await store.abandon(second.id, claim.lease)).toBe(true);

  // Its retry posts nothing: the step stays cancelled.
  expect(await store.claimCard(second, '2:2')).toEqual({ kind: 'cancelled' });
});

it('a cancelled card still owed its update is kept when the request that replaced it is abandoned (its card can never be posted), and the step is as the cancel left it', async () => {
  const { store, approvalOf, post, cancel } = setUp();
  const first = approvalOf({ version: 1 });
  await post(first, '1:1', '1764000000.000100');
  await cancel(first);
  const second = approvalOf({ version: 2 });
  const claim = await store.claimCard(second, '2:2');
  if (claim.kind !== 'claimed') throw new Error(claim.kind);
  // Slack refuses the second card for good (say the bot is not in its channel).
  expect(await store.abandon(second.id, claim.lease)).toBe(true);

  expect(await store.unsettled(2000, 10, Date.now())).toEqual([
    { record: expect.objectContaining({ cardId: first.cardId, card: { channel: 'C0APPROVALS', ts: '1764000000.000100' }, cancelled: expect.objectContaining({ reason: 'not needed' }) }), delivered: false },
  ]);
  // A late retry of the cancelled request still posts nothing; the abandoned one, sent again, may post.
  expect(await store.claimCard(first, '1:1')).toEqual({ kind: 'cancelled' });
  expect(await store.claimCard(second, '2:2')).toMatchObject({ kind: 'claimed' });
  expect((await store.unsettled(2000, 10, Date.now())).map(({ record }) => record.cardId)).toEqual([first.cardId]);
});
