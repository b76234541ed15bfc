import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createApproval, expiredDecision, type Approval, type ApprovalRecord } from '../../src/domain/approval.js';
import { decisionJobId, parseRequest, type Decision } from '../../src/domain/contract.js';
import { auditEntry } from '../../src/store/audit.js';
import { createOutbox } from '../../src/store/outbox.js';
import { SETTLE_LEASE_MS } from '../../src/store/outbox.js';
import { createSendTurns } from '../../src/store/send-turns.js';
import { createStore } from '../../src/store/store.js';
import { useEmulatedSlack } from '../helpers/emulated-slack.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { TEST_SIGNING_KEY } from '../helpers/signing-key.js';
import { approvalOnStep, postStepCard } from '../helpers/step-cards.js';

/**
 * One approval id per run and step: a cancelled request replaced by a newer one on the same step
 * reuses the id, its settle lease key and its outbox entry.
 */

const TOKEN = 'xoxb-settle-same-step';
const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
const slack = useEmulatedSlack(TOKEN);
afterAll(() => redis.disconnect());

describe('a step cancelled, then asked for again and approved', () => {
  it('the approval of the newer request reaches the engine even while the cancelled card is still being updated', async () => {
    const prefix = `settle-same-step-${randomBytes(4).toString('hex')}`;
    const policyKey = `${prefix}:policy`;
    const store = createStore(redis, { prefix, audit: { key: `${prefix}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 10_000 });
    const outbox = createOutbox({ connection: redis, queueName: `${prefix}-resume`, queuePrefix: 'bull', retentionSec: 3600, signingKey: TEST_SIGNING_KEY, store, slack: slack.client, turns: createSendTurns(redis, { prefix }), onSettled: async () => undefined, log: pino({ level: 'silent' }) });
    try {
      const requestOf = (job: unknown) => {
        const parsed = parseRequest(validRequest({ run_id: `run-${prefix}`, step_id: 'deploy', job }));
        if (!parsed.ok) throw new Error(parsed.problems.join());
        return parsed.request;
      };
      const post = (approval: Approval, version: string) => postStepCard(store, slack.client, approval, version);

      // The first request's card, then the engine cancels it: its card update is slow (Slack takes 2 s).
      const first = createApproval(requestOf({ action: 'deploy', version: 1 }), Date.now());
      await post(first, `${Date.now()}:1`);
      await store.cancel(first, { reason: 'superseded by a fixed job', at: new Date().toISOString() }, auditEntry(first, 'cancelled', 'engine', Date.now()), Date.now());
      slack.emulator.injectFaults('chat.update', { delayMs: 2000 });
      const cancelling = outbox.settle((await store.load(first.id))!);
      await delay(200);

      // The engine asks again for the same step with another job; a reviewer approves the new card.
      const second = createApproval(requestOf({ action: 'deploy', version: 2 }), Date.now());
      expect(second.id).toBe(first.id);
      await post(second, `${Date.now() + 1}:2`);
      await redis.set(policyKey, second.request.policy_snapshot);
      const read = await store.loadForClick(second.id, policyKey);
      const now = Date.now();
      const r = second.request;
      const decision: Decision = { run_id: r.run_id, step_id: r.step_id, decision: 'approved', decided_by: { id: 'U0ALICE', name: 'alice' }, decided_at: new Date(now).toISOString(), policy_snapshot: r.policy_snapshot, job_hash: r.job_hash, constraints: {} };
      const recorded = await store.recordClick(second, second.cardId, { kind: 'decision', decision }, read, policyKey, auditEntry(second, 'decided', 'U0ALICE', now), now, { settleLeaseMs: SETTLE_LEASE_MS });
      expect(recorded.kind).toBe('recorded');
      // As the button flow does: settle on the record's lease, or claim it.
      await outbox.settle({ ...read.record!, decision }, recorded.kind === 'recorded' && recorded.settleToken ? { leaseToken: recorded.settleToken } : {}).catch(() => false);

      await cancelling;
      // Whatever was left goes with the outbox drain (decisions older than its 2 s grace).
      await delay(2500);
      await outbox.drain();
      expect(await outbox.queue.getJob(decisionJobId(second.id))).toBeDefined();
    } finally {
      await outbox.queue.obliterate({ force: true });
      await outbox.close();
    }
  });
  it('a cancelled card whose update failed for now is still updated once a newer request on the step replaced the approval', async () => {
    const prefix = `settle-same-step-${randomBytes(4).toString('hex')}`;
    const store = createStore(redis, { prefix, audit: { key: `${prefix}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 10_000 });
    const outbox = createOutbox({ connection: redis, queueName: `${prefix}-resume`, queuePrefix: 'bull', retentionSec: 3600, signingKey: TEST_SIGNING_KEY, store, slack: slack.client, turns: createSendTurns(redis, { prefix }), onSettled: async () => undefined, log: pino({ level: 'silent' }) });
    try {
      const approvalOf = (job: unknown) => approvalOnStep(`run-${prefix}`, job);
      const post = (approval: Approval, version: string) => postStepCard(store, slack.client, approval, version);

      // The engine cancels the first request; Slack fails the card update for now (the drain is to finish it).
      const first = approvalOf({ action: 'deploy', version: 1 });
      const firstTs = await post(first, `${Date.now()}:1`);
      await store.cancel(first, { reason: 'superseded by a fixed job', at: new Date().toISOString() }, auditEntry(first, 'cancelled', 'engine', Date.now()), Date.now());
      slack.emulator.injectFaults('chat.update', { status: 503 });
      await expect(outbox.settle((await store.load(first.id))!)).rejects.toThrow();

      // The engine asks again for the step with another job before the drain comes round.
      await post(approvalOf({ action: 'deploy', version: 2 }), `${Date.now() + 1}:2`);
      await delay(2500);
      await outbox.drain();
      // The cancelled card no longer offers its buttons: it was updated to say it was cancelled.
      const updated = slack.emulator.callsOf('chat.update').filter((call) => call.args.ts === firstTs && call.answered === 'ok');
      expect(updated.length).toBeGreaterThan(0);
    } finally {
      await outbox.queue.obliterate({ force: true });
      await outbox.close();
    }
  });
  it('the expiry of the newer request reaches the engine at once while the cancelled card is still being updated, and only it is told to the requester', async () => {
    const prefix = `settle-same-step-${randomBytes(4).toString('hex')}`;
    const policyKey = `${prefix}:policy`;
    const told: ApprovalRecord[] = [];
    const store = createStore(redis, { prefix, audit: { key: `${prefix}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 10_000 });
    const outbox = createOutbox({ connection: redis, queueName: `${prefix}-resume`, queuePrefix: 'bull', retentionSec: 3600, signingKey: TEST_SIGNING_KEY, store, slack: slack.client, turns: createSendTurns(redis, { prefix }), onSettled: async (record) => void told.push(record), log: pino({ level: 'silent' }) });
    try {
      const approvalOf = (job: unknown) => approvalOnStep(`run-${prefix}`, job);
      const post = (approval: Approval, version: string) => postStepCard(store, slack.client, approval, version);

      // The first request is cancelled; its card update is slow (Slack takes 2 s).
      const first = approvalOf({ action: 'deploy', version: 1 });
      await post(first, `${Date.now()}:1`);
      await store.cancel(first, { reason: 'superseded by a fixed job', at: new Date().toISOString() }, auditEntry(first, 'cancelled', 'engine', Date.now()), Date.now());
      slack.emulator.injectFaults('chat.update', { delayMs: 2000 });
      const cancelling = outbox.settle((await store.load(first.id))!);
      await delay(200);

      // The newer request expires meanwhile, as the expiry timer records and settles it (no lease taken with the record).
      const second = approvalOf({ action: 'deploy', version: 2 });
      await post(second, `${Date.now() + 1}:2`);
      const read = await store.loadForClick(second.id, policyKey);
      const now = Date.now();
      const decision = expiredDecision(read.record!, now);
      expect((await store.recordClick(second, second.cardId, { kind: 'decision', decision }, read, policyKey, auditEntry(second, 'expired', 'expiry', now), now)).kind).toBe('recorded');
      const settling = outbox.settle({ ...read.record!, decision });
      // On the resume queue at once, not after the older card's settle or a drain.
      await delay(300);
      expect(await outbox.queue.getJob(decisionJobId(second.id))).toBeDefined();
      expect(await settling).toBe(true);
      expect(await cancelling).toBe(true);

      // Both endings settled: nothing left in the outbox; the requester was told of the newer one only.
      expect(await redis.zscore(`${prefix}:outbox`, second.id)).toBeNull();
      expect(await redis.hget(`${prefix}:approval:${second.id}`, 'settled')).toBe('1');
      expect(told.map((record) => record.cardId)).toEqual([second.cardId]);
    } finally {
      await outbox.queue.obliterate({ force: true });
      await outbox.close();
    }
  });
});
