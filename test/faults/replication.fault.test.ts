import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_DENY } from '../../src/views/cards.js';
import { createRedis } from '../../src/ops/redis-connection.js';
import type { RedisTarget } from '../../src/ops/config.js';
import { startSentinelSet, type SentinelSet } from '../../sandbox/redis-sentinel.js';
import { startRedisServer, type RedisServer } from '../../sandbox/redis-server.js';
import { startGate, type Gate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';
import { runCli } from '../helpers/cli-process.js';

/**
 * A Sentinel-managed primary fails over with approvals pending: the bot follows the new primary,
 * and clicks after the failover decide each approval exactly once.
 */

let set: SentinelSet | undefined;
let gate: Gate | undefined;
const servers: RedisServer[] = [];
afterEach(async () => {
  await gate?.close();
  await set?.stop();
  for (const server of servers.splice(0)) {
    server.resume();
    await server.stop();
  }
  gate = undefined;
  set = undefined;
});

/** Waits until the replica has every write the primary has acknowledged (its offset caught up). */
async function replicated(primaryUrl: string, replicaUrl: string): Promise<void> {
  const primary = new Redis(primaryUrl);
  const replica = new Redis(replicaUrl);
  try {
    await waitFor('the replica to catch up', async () => {
      const offset = (info: string, field: string) => Number(new RegExp(`${field}:(\\d+)`).exec(info)?.[1]);
      const [p, r] = await Promise.all([primary.info('replication'), replica.info('replication')]);
      return offset(r, 'slave_repl_offset') >= offset(p, 'master_repl_offset');
    });
  } finally {
    primary.disconnect();
    replica.disconnect();
  }
}

describe('Redis Sentinel', () => {
  it('the primary dies with approvals pending: the bot follows the new primary and each approval is decided exactly once', async () => {
    set = await startSentinelSet({ replicas: 1, sentinels: 3, downAfterMs: 1000 });
    const target: RedisTarget = { url: set.primary.url, sentinel: { sentinels: set.sentinels, name: set.name }, waitReplicas: { count: 0, timeoutMs: 500 } };
    const sentinelEnv = { REDIS_SENTINELS: set.sentinels.map((s) => `${s.host}:${s.port}`).join(','), REDIS_SENTINEL_NAME: set.name };
    gate = await startGate(set.primary.url, { env: sentinelEnv, connect: () => createRedis(target, { maxRetriesPerRequest: null }) });
    const g = gate;
    const cards = [];
    for (const run of ['run_sentinel_1', 'run_sentinel_2', 'run_sentinel_3']) cards.push((await g.post({ run_id: run })).card);
    await replicated(set.primary.url, set.replicas[0]!.url);
    const before = await set.primaryAddress();

    await set.primary.kill();
    await waitFor('the Sentinels to promote the replica', async () => (await set!.primaryAddress()) !== before, 30_000);
    expect(await set.primaryAddress()).toBe(`127.0.0.1:${set.replicas[0]!.port}`);

    // Built while the card has its buttons: a reviewer whose card had not refreshed yet.
    const lateClick = g.emulator.clickPayload({ channel: cards[0]!.channel, ts: cards[0]!.ts, actionId: ACTION_DENY, user: 'U0CAROL' });
    // Approve the first two, deny the third, each by two people at once: one decision each.
    for (const [i, card] of cards.entries()) {
      const actionId = i === 2 ? ACTION_DENY : ACTION_APPROVE;
      const responses = await Promise.all(['U0ALICE', 'U0BOB'].map((user) => g.emulator.click({ channel: card.channel, ts: card.ts, actionId, user })));
      expect(responses.map((r) => r.status)).toEqual([200, 200]);
    }
    const decisions = await waitFor('three decisions', async () => {
      const all = await g.decisions();
      return all.length >= 3 && all;
    }, 30_000);
    expect(decisions.map((d) => `${d.run_id}:${d.decision}`).sort()).toEqual(['run_sentinel_1:approved', 'run_sentinel_2:approved', 'run_sentinel_3:denied']);
    for (const card of cards) {
      await waitFor('the decided card', () => !JSON.stringify(g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)!.blocks).includes(ACTION_APPROVE), 15_000);
    }
    // A later click, after everything settled, adds nothing.
    expect((await g.emulator.sendToApp(lateClick)).status).toBe(200);
    await waitFor('the reply to the late click', () => g.emulator.ephemeralsFor('U0CAROL')[0]);
    expect(await g.decisions()).toHaveLength(3);
    // The command line follows the Sentinels too: REDIS_URL still names the dead primary.
    const names = { REQUEST_QUEUE: g.env.REQUEST_QUEUE!, RESUME_QUEUE: g.env.RESUME_QUEUE!, STATE_PREFIX: g.env.STATE_PREFIX!, POLICY_SNAPSHOT_KEY: g.env.POLICY_SNAPSHOT_KEY! };
    const status = await runCli(['status', 'run_sentinel_3', 'remediate'], { REDIS_URL: set.primary.url, ...sentinelEnv, ...names });
    expect({ code: status.code, stderr: status.stderr }).toEqual({ code: 10, stderr: '' });
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'decided', decision: { decision: 'denied' } });

    // A group name the Sentinels do not know is named as the setting to fix, not as an unreachable Redis.
    const unknownGroup = await runCli(['status', 'run_sentinel_3', 'remediate'], { REDIS_URL: set.primary.url, ...sentinelEnv, REDIS_SENTINEL_NAME: 'no-such-group', ...names });
    expect(unknownGroup.code).toBe(3);
    expect(unknownGroup.stderr.trim()).toMatch(/^the Sentinels .* know no primary named "no-such-group": set REDIS_SENTINEL_NAME to the name they monitor/);
    // No connection of the bot gave up during the failover (an ended ioredis client says this).
    expect(g.bot.logs.filter((l) => String(l.err).includes('Connection is closed'))).toEqual([]);
  }, 120_000);

  it('with REDIS_WAIT_REPLICAS, a decision waits for a replica; a replica that hangs delays it by the timeout only, and the bot says so', async () => {
    const primary = await startRedisServer();
    servers.push(primary);
    const replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    servers.push(replica);
    gate = await startGate(primary.url, { env: { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '400' } });
    const g = gate;
    await replicated(primary.url, replica.url);
    const { card: first } = await g.post({ run_id: 'run_wait_1' });
    await g.emulator.click({ channel: first.channel, ts: first.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the first decision', async () => (await g.decisions()).length === 1, 15_000);
    expect(g.bot.logs.filter((l) => l.msg?.toString().startsWith('decision not yet on enough replicas'))).toEqual([]);

    replica.pause();
    const { card: second } = await g.post({ run_id: 'run_wait_2' });
    await g.emulator.click({ channel: second.channel, ts: second.ts, actionId: ACTION_DENY, user: 'U0BOB' });
    await waitFor('the second decision, despite the hung replica', async () => (await g.decisions()).length === 2, 15_000);
    const warning = await g.bot.waitForLog((l) => String(l.msg).startsWith('decision not yet on enough replicas'));
    expect(warning).toMatchObject({ approval_id: expect.any(String), replicas_acknowledged: 0, replicas_wanted: 1, timeout_ms: 400 });
  }, 60_000);
});

