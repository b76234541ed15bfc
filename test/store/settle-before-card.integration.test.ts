import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, expect, inject, it } from 'vitest';
import { createApproval, staleUnderPolicy } from '../../src/domain/approval.js';
import { parseRequest } from '../../src/domain/contract.js';
import { auditEntry } from '../../src/store/audit.js';
import { createOutbox } from '../../src/store/outbox.js';
import { createSendTurns } from '../../src/store/send-turns.js';
import { createStore } from '../../src/store/store.js';
import { useEmulatedSlack } from '../helpers/emulated-slack.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { TEST_SIGNING_KEY } from '../helpers/signing-key.js';

/** An approval that ends (a policy change) while its card is still being posted: the settle that ran before the card was recorded updated no card. */

const TOKEN = 'xoxb-settle-before-card';
const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
const slack = useEmulatedSlack(TOKEN);
afterAll(() => redis.disconnect());

it('a card recorded while an ending is settled without one is still owed its update: the settle does not mark it settled', async () => {
  const prefix = `settle-before-card-${randomBytes(4).toString('hex')}`;
  const policyKey = `${prefix}:policy`;
  const store = createStore(redis, { prefix, audit: { key: `${prefix}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 10_000 });
  const parsed = parseRequest(validRequest({ run_id: `run-${prefix}`, step_id: 'deploy' }));
  if (!parsed.ok) throw new Error(parsed.problems.join());
  const approval = createApproval(parsed.request, Date.now());
  const claim = await store.claimCard(approval, `${Date.now()}:1`);
  if (claim.kind !== 'claimed') throw new Error(claim.kind);
  const posted = await slack.client.chat.postMessage({ channel: 'C0APPROVALS', text: 'card' });

  // A policy change ends the approval as stale while its card is being posted; its settle knows of no card.
  await redis.set(policyKey, 'another-snapshot-0123456789');
  const read = await store.loadForClick(approval.id, policyKey);
  const now = Date.now();
  const decision = staleUnderPolicy(read.record!, read.snapshotInForce!, now)!;
  expect((await store.recordClick(approval, approval.cardId, { kind: 'decision', decision }, read, policyKey, auditEntry(approval, 'stale', 'policy', now), now)).kind).toBe('recorded');
  // The card is recorded while that settle is at work (here: while it waits for the replicas).
  const outbox = createOutbox({
    connection: redis,
    queueName: `${prefix}-resume`,
    queuePrefix: 'bull',
    retentionSec: 3600,
    signingKey: TEST_SIGNING_KEY,
    store,
    slack: slack.client,
    turns: createSendTurns(redis, { prefix }),
    onSettled: async () => undefined,
    waitForReplicas: async () => expect(await store.saveCard(approval, claim.lease, { channel: posted.channel!, ts: posted.ts! }, Date.now())).toEqual({ kind: 'saved', ended: true }),
    log: pino({ level: 'silent' }),
  });
  try {
    await outbox.settle({ ...read.record!, decision });

    // The card recorded meanwhile still shows its buttons: its update is still owed, and the outbox finds it.
    expect(slack.emulator.callsOf('chat.update').filter((call) => call.args.ts === posted.ts)).toEqual([]);
    expect(await store.unsettled(0, 10, Date.now() + 1)).toEqual([{ record: expect.objectContaining({ card: { channel: posted.channel, ts: posted.ts }, decision }), delivered: true }]);
  } finally {
    await outbox.queue.obliterate({ force: true });
    await outbox.close();
  }
});
