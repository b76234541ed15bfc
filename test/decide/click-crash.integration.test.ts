import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { auditEntry } from '../../src/store/audit.js';
import { ACTION_APPROVE, ACTION_DENY } from '../../src/views/cards.js';
import { approvalIdOf, parseRequest, type Decision } from '../../src/domain/contract.js';
import { freePort } from '../../sandbox/free-port.js';
import { createStore } from '../../src/store/store.js';
import { POLICY_SNAPSHOT as SNAPSHOT, useGates, type Gate } from '../helpers/gate.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { waitFor } from '../helpers/wait.js';
import { signDecision } from '../../src/domain/decision-signature.js';
import { TEST_SIGNING_KEY } from '../helpers/signing-key.js';

const gates = useGates();

async function decisionsOn(g: Gate): Promise<Decision[]> {
  return (await g.resume.getJobs(['wait', 'active', 'completed', 'failed', 'delayed'])).map((job) => job.data as Decision);
}

async function postCards(g: Gate, count: number) {
  const requests = Array.from({ length: count }, () => validRequest({ policy_snapshot: SNAPSHOT }));
  await Promise.all(requests.map(async (request) => g.finished(await g.requests.add('request', request))));
  return requests.map((request) => ({ request, card: g.cardsFor(request)[0]! }));
}

describe('a decision survives crashes', () => {
  it('a decision recorded by a bot that died before pushing it reaches the resume queue once, and its card is updated, with two bots running', async () => {
    const g = await gates.open();
    const { request } = (await postCards(g, 1))[0]!;
    await g.bot.kill();

    // What the dying bot had done: the decision is recorded, and queued for delivery, nothing more.
    const store = createStore(g.redis, { prefix: g.env.STATE_PREFIX!, audit: { key: `${g.env.STATE_PREFIX}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 10_000 });
    const parsed = parseRequest(request);
    if (!parsed.ok) throw new Error(parsed.problems.join());
    const id = approvalIdOf(parsed.request);
    const read = await store.loadForClick(id, g.env.POLICY_SNAPSHOT_KEY!);
    const record = read.record!;
    const decision: Decision = { run_id: parsed.request.run_id, step_id: parsed.request.step_id, decision: 'approved', decided_by: { id: 'U0ALICE', name: 'alice' }, decided_at: new Date(Date.now() - 10_000).toISOString(), policy_snapshot: SNAPSHOT, job_hash: parsed.request.job_hash, constraints: {} };
    const entry = auditEntry(record, 'decided', 'U0ALICE', Date.now() - 10_000, { decision: 'approved' });
    expect(await store.recordClick(record, record.cardId, { kind: 'decision', decision }, read, g.env.POLICY_SNAPSHOT_KEY!, entry, Date.now() - 10_000)).toEqual({ kind: 'recorded' });

    await Promise.all([g.startAnother(), g.startAnother({ PORT: String(await freePort()) })]);
    await waitFor('the decision on the resume queue', async () => (await decisionsOn(g)).length > 0);
    await waitFor('both bots to drain at least once more', async () => (await g.redis.zcard(`${g.env.STATE_PREFIX}:outbox`)) === 0);
    await new Promise((resolve) => setTimeout(resolve, 6000));
    // Signed as it is pushed, by whichever bot pushes it: the same data as the dead bot would have pushed.
    expect(await decisionsOn(g)).toEqual([signDecision(decision, TEST_SIGNING_KEY)]);
    expect(JSON.stringify(g.cardsFor(request)[0]!.blocks)).toContain('*Approved* by <@U0ALICE>');
  }, 60_000);

  it('the bot killed with SIGKILL in the middle of clicks: every recorded decision reaches the resume queue exactly once and its card shows it', async () => {
    const g = await gates.open();
    const cards = await postCards(g, 12);
    // Slow card updates keep clicks in flight between the record and the end of the handler.
    g.emulator.injectFaults('chat.update', ...Array.from({ length: 12 }, () => ({ delayMs: 3000 })));
    const clicks = cards.map(({ card }, i) =>
      g.emulator.click({ channel: card.channel, ts: card.ts, actionId: i % 2 ? ACTION_DENY : ACTION_APPROVE, user: 'U0ALICE' }).catch(() => undefined),
    );
    await g.bot.waitForLog((l) => l.msg === 'decision recorded');
    await g.bot.kill();
    await Promise.all(clicks);

    await g.startAnother();
    const store = createStore(g.redis, { prefix: g.env.STATE_PREFIX!, audit: { key: `${g.env.STATE_PREFIX}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 10_000 });
    await waitFor('the outbox to drain', async () => (await g.redis.zcard(`${g.env.STATE_PREFIX}:outbox`)) === 0, 30_000);
    const delivered = await decisionsOn(g);
    let recorded = 0;
    for (const { request } of cards) {
      const { record } = await store.loadForClick(approvalIdOf(request as { run_id: string; step_id: string }), g.env.POLICY_SNAPSHOT_KEY!);
      const mine = delivered.filter((d) => d.run_id === request.run_id);
      const shown = JSON.stringify(g.cardsFor(request)[0]!.blocks);
      if (record?.decision) {
        recorded += 1;
        expect(mine).toEqual([signDecision(record.decision, TEST_SIGNING_KEY)]);
        expect(shown).not.toContain(ACTION_APPROVE);
      } else {
        expect(shown).toContain(ACTION_APPROVE);
        expect(mine).toEqual([]);
      }
    }
    expect(recorded).toBeGreaterThan(0);
    expect(delivered).toHaveLength(recorded);
  }, 60_000);

  it('Redis stops answering after the click was acknowledged: the click decides once Redis answers, and nobody is told otherwise', async () => {
    const redisServer = await gates.redisServer({ debugCommand: true });
    const g = await gates.open({}, redisServer.url);
    const { request, card } = (await postCards(g, 1))[0]!;
    // users.info answers slowly: Redis goes to sleep after the click is in the inbox, before it is read.
    g.emulator.injectFaults('users.info', { delayMs: 1500 });
    const sleeper = new Redis(redisServer.url);
    try {
      expect((await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' })).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Longer than the click's read deadline and the inbox's idle time: its first delivery gives up.
      await sleeper.call('DEBUG', 'SLEEP', '7');
    } finally {
      sleeper.disconnect();
    }
    await waitFor('the decision once Redis answers', async () => (await decisionsOn(g)).length === 1, 20_000);
    expect((await decisionsOn(g))[0]).toMatchObject({ decision: 'approved', decided_by: { id: 'U0ALICE' } });
    await waitFor('the card update', () => !JSON.stringify(g.cardsFor(request)[0]!.blocks).includes(ACTION_APPROVE));
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(g.emulator.ephemeralsFor('U0ALICE')).toEqual([]);
    expect(await decisionsOn(g)).toHaveLength(1);
  }, 60_000);

  it('Redis restarted between the card and the click: the click decides, once', async () => {
    const redisServer = await gates.redisServer({ appendonly: true });
    const g = await gates.open({}, redisServer.url);
    const { card } = (await postCards(g, 1))[0]!;
    await redisServer.kill();
    await redisServer.restart();
    const probe = new Redis(redisServer.url);
    try {
      await waitFor('the bot to reconnect', async () => (await fetch(`http://127.0.0.1:${g.env.PORT}/readyz`)).status === 200, 30_000);
      expect(await probe.get(g.env.POLICY_SNAPSHOT_KEY!)).toBe(SNAPSHOT);
    } finally {
      probe.disconnect();
    }
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0BOB' });
    await waitFor('the decision', async () => (await decisionsOn(g)).length === 1, 30_000);
    expect((await decisionsOn(g))[0]).toMatchObject({ decision: 'approved', decided_by: { id: 'U0BOB' } });
  }, 90_000);
});
