import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createApproval, type ApprovalRecord } from '../../src/domain/approval.js';
import { parseRequest, type Decision } from '../../src/domain/contract.js';
import { auditEntry } from '../../src/store/audit.js';
import { createOutbox, type Outbox } from '../../src/store/outbox.js';
import { createSendTurns, TurnLaterError } from '../../src/store/send-turns.js';
import { UPDATE_PACE } from '../../src/ops/slack-pace.js';
import { createStore, type Store } from '../../src/store/store.js';
import { useEmulatedSlack } from '../helpers/emulated-slack.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { TEST_SIGNING_KEY } from '../helpers/signing-key.js';

/** Settling an ending (push the decision, update the card) is claimed per entry: one settler updates each card. */

const TOKEN = 'xoxb-outbox-test';
const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
const slack = useEmulatedSlack(TOKEN);
afterAll(() => redis.disconnect());

let prefix: string;
let store: Store;
const outboxes: Outbox[] = [];
beforeEach(() => {
  prefix = `outbox-test-${randomBytes(4).toString('hex')}`;
  store = createStore(redis, { prefix, audit: { key: `${prefix}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 10_000 });
});
afterEach(async () => {
  for (const outbox of outboxes.splice(0)) {
    await outbox.queue.obliterate({ force: true });
    await outbox.close();
  }
});

/** A replica's outbox: its own resume queue producer and drain, over the shared store. */
function replicaOutbox(): Outbox {
  const outbox = createOutbox({ connection: redis, queueName: `${prefix}-resume`, queuePrefix: 'bull', retentionSec: 3600, signingKey: TEST_SIGNING_KEY, store, slack: slack.client, turns: createSendTurns(redis, { prefix }), onSettled: async () => undefined, log: pino({ level: 'silent' }) });
  outboxes.push(outbox);
  return outbox;
}

/**
 * An approval with a card in the emulator and a decision recorded (so in the outbox) `agoMs` ago:
 * a drain (each outbox drains once as it is created) takes only decisions older than 2 s.
 */
async function decided(agoMs = 0): Promise<ApprovalRecord> {
  const parsed = parseRequest(validRequest());
  if (!parsed.ok) throw new Error(parsed.problems.join());
  const approval = createApproval(parsed.request, Date.now());
  const claim = await store.claimCard(approval, '1:1');
  if (claim.kind !== 'claimed') throw new Error(claim.kind);
  const posted = await slack.client.chat.postMessage({ channel: 'C0APPROVALS', text: 'card' });
  const card = { channel: posted.channel!, ts: posted.ts! };
  await store.saveCard(approval, claim.lease, card, Date.now());
  await redis.set(`${prefix}:policy`, approval.request.policy_snapshot);
  const read = await store.loadForClick(approval.id, `${prefix}:policy`);
  const at = Date.now() - agoMs;
  const r = approval.request;
  const decision: Decision = { run_id: r.run_id, step_id: r.step_id, decision: 'approved', decided_by: { id: 'U0ALICE', name: 'alice' }, decided_at: new Date(at).toISOString(), policy_snapshot: r.policy_snapshot, job_hash: r.job_hash, constraints: {} };
  await store.recordClick(approval, approval.cardId, { kind: 'decision', decision }, read, `${prefix}:policy`, auditEntry(approval, 'decided', 'U0ALICE', at), at);
  return { ...read.record!, decision };
}

const updatesOf = (record: ApprovalRecord) => slack.emulator.callsOf('chat.update').filter((call) => call.args.ts === record.card!.ts).length;

describe('the outbox, claimed per entry', () => {
  it('two replicas settling the same ending at once: one updates the card and pushes the decision, the other does nothing', async () => {
    const record = await decided();
    slack.emulator.injectFaults('chat.update', { delayMs: 500 });
    const settled = await Promise.all([replicaOutbox().settle(record), replicaOutbox().settle(record)]);
    expect(settled.sort()).toEqual([false, true]);
    expect(updatesOf(record)).toBe(1);
    expect(await outboxes[0]!.queue.getJobCounts('wait')).toEqual({ wait: 1 });
    expect(await redis.zscore(`${prefix}:outbox`, record.id)).toBeNull();
    // Settled: a later settle or drain leaves it alone.
    expect(await replicaOutbox().settle(record)).toBe(false);
    expect(updatesOf(record)).toBe(1);
  });

  it('drains on three replicas while a slow settle holds the entry: the card is still updated once', async () => {
    const record = await decided(5000);
    slack.emulator.injectFaults('chat.update', { delayMs: 1500 });
    const replicas = [replicaOutbox(), replicaOutbox(), replicaOutbox()];
    await delay(200);
    await Promise.all(replicas.map((outbox) => outbox.drain()));
    await delay(1500);
    await Promise.all(replicas.map((outbox) => outbox.drain()));
    expect(updatesOf(record)).toBe(1);
  });

  it('a settler that died holding the entry: once its lease lapses, a drain settles it', async () => {
    const record = await decided(5000);
    const dead = await store.claimSettle(record.id, record.cardId, 300);
    expect(dead).toMatchObject({ kind: 'claimed', delivered: false });
    const outbox = replicaOutbox();
    await outbox.drain();
    expect(updatesOf(record)).toBe(0);
    await delay(400);
    await outbox.drain();
    expect(updatesOf(record)).toBe(1);
    expect(await outbox.queue.getJobCounts('wait')).toEqual({ wait: 1 });
  });

  it('a settle that fails for now gives its claim back, so the next drain can try at once', async () => {
    const record = await decided();
    slack.emulator.injectFaults('chat.update', { status: 503 });
    await expect(replicaOutbox().settle(record)).rejects.toThrow();
    expect(await redis.exists(`${prefix}:settle-lease:${record.id}:${record.cardId}`)).toBe(0);
    expect(await replicaOutbox().settle(record)).toBe(true);
    expect(updatesOf(record)).toBe(2);
    // Delivered by the first attempt: pushed once.
    expect(await outboxes[0]!.queue.getJobCounts('wait')).toEqual({ wait: 1 });
  });
  it('a settler holding the lease its record took settles without claiming, while every other settler is kept out; the lease is given back', async () => {
    const record = await decided();
    const token = 'f'.repeat(24);
    expect(await redis.set(`${prefix}:settle-lease:${record.id}:${record.cardId}`, token, 'PX', 15_000, 'NX')).toBe('OK');
    slack.emulator.injectFaults('chat.update', { delayMs: 500 });
    const settled = await Promise.all([replicaOutbox().settle(record, { leaseToken: token }), replicaOutbox().settle(record)]);
    expect(settled).toEqual([true, false]);
    expect(updatesOf(record)).toBe(1);
    expect(await outboxes[0]!.queue.getJobCounts('wait')).toEqual({ wait: 1 });
    expect(await redis.hget(`${prefix}:approval:${record.id}`, 'delivered')).toBe('1');
    expect(await redis.zscore(`${prefix}:outbox`, record.id)).toBeNull();
    expect(await redis.exists(`${prefix}:settle-lease:${record.id}:${record.cardId}`)).toBe(0);
  });

  it('a 429 on chat.update holds chat.update for every settler until Retry-After has passed; then the card is updated', async () => {
    const first = await decided();
    const second = await decided();
    slack.emulator.injectFaults('chat.update', { status: 429, retryAfterSec: 2 });
    await expect(replicaOutbox().settle(first)).rejects.toThrow();
    const refusedAt = slack.emulator.callsOf('chat.update').at(-1)!.at;
    // Another replica, with a card of its own to update, waits for the hold too.
    expect(await replicaOutbox().settle(second)).toBe(true);
    const secondUpdate = slack.emulator.callsOf('chat.update').find((call) => call.args.ts === second.card!.ts)!;
    expect(secondUpdate.at - refusedAt).toBeGreaterThanOrEqual(2000 - 50);
    expect(await replicaOutbox().settle(first)).toBe(true);
    expect(updatesOf(first)).toBe(2);
  });
  it('a card whose chat.update turn is far off stays in the outbox for a drain; a click shows it through response_url at once', async () => {
    const turns = createSendTurns(redis, { prefix });
    // A backlog of card updates, more than 30 s of them at Slack's pace.
    for (let i = 0; i < UPDATE_PACE.burst + 30; i += 1) await turns.take(UPDATE_PACE, `backlog-${i}`, 0);
    const fromDrain = await decided();
    await expect(replicaOutbox().settle(fromDrain)).rejects.toThrow(TurnLaterError);
    expect(updatesOf(fromDrain)).toBe(0);
    expect(await redis.zscore(`${prefix}:outbox`, fromDrain.id)).not.toBeNull();

    const fromClick = await decided();
    const shown: unknown[] = [];
    expect(await replicaOutbox().settle(fromClick, { fallback: async (card) => shown.push(card) })).toBe(true);
    expect(shown).toHaveLength(1);
    expect(updatesOf(fromClick)).toBe(0);
  });
});
