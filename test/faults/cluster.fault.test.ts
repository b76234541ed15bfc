import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createApprovalClient } from '../../src/client/approval-client.js';
import { keySlot } from '../../src/ops/key-slot.js';
import { createRedis, type RedisClient } from '../../src/ops/redis-connection.js';
import type { RedisTarget } from '../../src/ops/config.js';
import { ACTION_APPROVE, ACTION_DENY } from '../../src/views/cards.js';
import { startRedisCluster, type RedisClusterSet } from '../../sandbox/redis-cluster.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { startBot } from '../helpers/bot-process.js';
import { runCli as cli } from '../helpers/cli-process.js';
import { startGate, type Gate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The gate on a real local Redis Cluster of three masters: every key of the bot, its queues and its
 * engines in one slot, so no script or transaction crosses slots; the whole flow works, the client
 * and the command line read it, a layout that would cross slots is refused at start, and the bot
 * says it is not ready when the node serving its slot is gone.
 */

let cluster: RedisClusterSet;
const opened: { close(): Promise<unknown> | unknown }[] = [];
beforeAll(async () => {
  cluster = await startRedisCluster({ nodeTimeoutMs: 1000 });
}, 60_000);
afterAll(async () => {
  for (const item of opened.splice(0).reverse()) await item.close();
  await cluster?.stop();
});

const nodesSetting = () => cluster.addresses.map((a) => `${a.host}:${a.port}`).join(',');

describe('Redis Cluster', () => {
  it('refuses to start, bot and command line, when the prefixes would spread keys over slots, naming the settings and the fix', async () => {
    const bot = startBot({ REDIS_URL: cluster.nodes[0]!.url, REDIS_CLUSTER_NODES: nodesSetting(), SLACK_BOT_TOKEN: 'xoxb-test-token', SLACK_SIGNING_SECRET: 'test-signing-secret-0123456789', APPROVERS: 'anyone', STATE_PREFIX: '{gate}:approvals', POLICY_SNAPSHOT_KEY: '{gate}:policy-snapshot' });
    opened.push({ close: () => bot.kill() });
    expect(await bot.exited).toBe(1);
    expect(bot.stderr()).toContain('approval-gate cannot start: REDIS_CLUSTER_NODES is set, so every key of the gate must be in one cluster slot');
    expect(bot.stderr()).toContain('QUEUE_PREFIX gives keys "bull:approval-requests:…" with no hash tag');
    expect(bot.stderr()).toContain('QUEUE_PREFIX={gate} STATE_PREFIX={gate}:approvals POLICY_SNAPSHOT_KEY={gate}:policy-snapshot');
    const status = await cli(['status', 'run_1', 'remediate'], { REDIS_CLUSTER_NODES: nodesSetting() });
    expect(status.code).toBe(2);
    expect(status.stderr).toContain('REDIS_CLUSTER_NODES is set, so every key of the gate must be in one cluster slot');
  });

  it('request, card, two clicks and one decision; policy, cancel and expiry; the client, the command line and the MCP server read them; every key in the gate’s slot; not ready without that slot', async () => {
    const tag = `gate-${randomBytes(3).toString('hex')}`;
    const names = { QUEUE_PREFIX: `{${tag}}`, STATE_PREFIX: `{${tag}}:approvals`, POLICY_SNAPSHOT_KEY: `{${tag}}:policy-snapshot` };
    const target: RedisTarget = { url: cluster.nodes[0]!.url, cluster: { nodes: cluster.addresses }, waitReplicas: { count: 0, timeoutMs: 500 } };
    const g: Gate = await startGate(cluster.nodes[0]!.url, { env: { ...names, REDIS_CLUSTER_NODES: nodesSetting() }, connect: () => createRedis(target, { maxRetriesPerRequest: null }) });
    opened.push(g);
    const engine: RedisClient = createRedis(target, { maxRetriesPerRequest: null });
    engine.on('error', () => undefined);
    const client = createApprovalClient({ connection: engine, requestQueue: g.env.REQUEST_QUEUE!, resumeQueue: g.env.RESUME_QUEUE!, prefix: names.QUEUE_PREFIX, statePrefix: names.STATE_PREFIX, policySnapshotKey: names.POLICY_SNAPSHOT_KEY });
    opened.push({ close: () => client.close().then(() => engine.disconnect()) });
    const cliEnv = { REDIS_URL: cluster.nodes[1]!.url, REDIS_CLUSTER_NODES: `127.0.0.1:${cluster.nodes[1]!.port}`, REQUEST_QUEUE: g.env.REQUEST_QUEUE!, RESUME_QUEUE: g.env.RESUME_QUEUE!, ...names };
    const decisionOf = async (runId: string) => (await g.decisions()).filter((d) => d.run_id === runId);

    // Two reviewers click at once: one decision on the resume queue.
    const { request, card } = await g.post({ run_id: 'run_cluster_click' });
    const clicks = await Promise.all(['U0ALICE', 'U0BOB'].map((user) => g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user })));
    expect(clicks.map((r) => r.status)).toEqual([200, 200]);
    await waitFor('the decision', async () => (await decisionOf('run_cluster_click')).length > 0, 15_000);
    await waitFor('the decided card', () => !JSON.stringify(g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)!.blocks).includes(ACTION_APPROVE), 15_000);
    expect((await decisionOf('run_cluster_click')).map((d) => d.decision)).toEqual(['approved']);

    // The command line and the typed client, on the cluster, read that decision.
    const status = await cli(['status', 'run_cluster_click', String(request.step_id)], cliEnv);
    expect({ code: status.code, stderr: status.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'decided', decision: { decision: 'approved', run_id: 'run_cluster_click' } });
    expect(await client.awaitDecision({ run_id: 'run_cluster_click', step_id: String(request.step_id), job_hash: String(request.job_hash), policy_snapshot: String(request.policy_snapshot) }, { timeoutMs: 10_000 })).toMatchObject({ decision: 'approved' });

    // So does the MCP server, an agent's way in.
    const agent = new Client({ name: 'cluster-agent', version: '1.0.0' });
    await agent.connect(new StdioClientTransport({ command: process.execPath, args: ['dist/client/cli/main.js', 'mcp'], env: { PATH: process.env.PATH ?? '', ...cliEnv }, stderr: 'pipe' }));
    opened.push(agent);
    const asked = agent.callTool({ name: 'request_approval', arguments: { what: 'Rotate the cluster credentials', why: 'quarterly', job: { tool: 'rotate' }, risk_tags: ['prod'], run_id: 'mcp-cluster', step_id: 'rotate', wait_sec: 30 } });
    // No card in time: the tool's answer says why.
    const agentCard = await waitFor('the agent’s card', () => g.cardsFor({ run_id: 'mcp-cluster', step_id: 'rotate' })[0], 15_000).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await asked)}`);
    });
    await g.emulator.click({ channel: agentCard.channel, ts: agentCard.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const answer = await asked;
    expect(answer.isError, JSON.stringify(answer.content)).toBeFalsy();
    expect(answer.structuredContent).toMatchObject({ state: 'decided', may_proceed: true, decision: { decision: 'approved', run_id: 'mcp-cluster' } });

    // A request sent by the client, denied in Slack: its handle gets the decision.
    const handle = await client.requestApproval(validRequest({ run_id: 'run_cluster_client' }) as Parameters<typeof client.requestApproval>[0]);
    const clientCard = await waitFor('the client’s card', () => g.cardsFor({ run_id: 'run_cluster_client', step_id: handle.step_id })[0], 15_000);
    await g.emulator.click({ channel: clientCard.channel, ts: clientCard.ts, actionId: ACTION_DENY, user: 'U0CAROL' });
    expect(await handle.decision({ timeoutMs: 15_000 })).toMatchObject({ decision: 'denied', run_id: 'run_cluster_client' });

    // Cancelled from the command line: the approval ends, no decision is pushed.
    const cancelled = await g.post({ run_id: 'run_cluster_cancel' });
    const cancel = await cli(['cancel', 'run_cluster_cancel', String(cancelled.request.step_id), '--reason', 'rolled back'], cliEnv);
    expect({ code: cancel.code, stderr: cancel.stderr }).toEqual({ code: 0, stderr: '' });
    await waitFor('the cancellation', async () => (await client.status('run_cluster_cancel', String(cancelled.request.step_id))).state === 'cancelled', 15_000);

    // A new policy snapshot makes a pending approval stale.
    await g.post({ run_id: 'run_cluster_policy' });
    const policy = await g.finished(await g.requests.add('policy', { policy_snapshot: 'abcdef0123456789' }));
    expect(policy.failedReason).toBeUndefined();
    const stale = await waitFor('the stale decision', async () => (await decisionOf('run_cluster_policy'))[0], 15_000);
    expect(stale).toMatchObject({ decision: 'stale', decided_by: { id: 'policy' }, policy_snapshot_in_force: 'abcdef0123456789' });

    // An approval nobody decides expires on its timer.
    await g.post({ run_id: 'run_cluster_expiry', policy_snapshot: 'abcdef0123456789', expires_in_sec: 2 });
    const expired = await waitFor('the expiry', async () => (await decisionOf('run_cluster_expiry'))[0], 20_000);
    expect(expired).toMatchObject({ decision: 'expired', decided_by: { id: 'expiry' } });

    // One decision per approval, none for the cancelled one.
    expect((await g.decisions()).map((d) => `${d.run_id}:${d.decision}`).sort()).toEqual(['mcp-cluster:approved', 'run_cluster_click:approved', 'run_cluster_client:denied', 'run_cluster_expiry:expired', 'run_cluster_policy:stale']);
    expect(g.bot.logs.filter((l) => /CROSSSLOT|MOVED|non local key/i.test(JSON.stringify(l)))).toEqual([]);
    // Every key written (the bot's, its queues', its Lua-built ones, the client's) is in the one slot.
    const slot = keySlot(names.STATE_PREFIX);
    const owner = await cluster.ownerOf(slot);
    const counts = await Promise.all(
      cluster.nodes.map(async (node) => {
        const redis = new Redis(node.url);
        try {
          return { node: node.port, keys: await redis.dbsize(), inSlot: node === owner ? Number(await redis.cluster('COUNTKEYSINSLOT', slot)) : 0 };
        } finally {
          redis.disconnect();
        }
      }),
    );
    const total = counts.reduce((sum, c) => sum + c.keys, 0);
    expect(total).toBeGreaterThan(20);
    expect(counts.reduce((sum, c) => sum + c.inSlot, 0)).toBe(total);

    // Ready while the cluster serves the slot; not ready once the node serving it is gone.
    const readyz = () => fetch(`http://127.0.0.1:${g.env.PORT}/readyz`).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, string> }));
    expect(await readyz()).toEqual({ status: 200, body: { status: 'ok', redis: 'ok', slack: 'ok' } });
    await owner.kill();
    await waitFor('/readyz to say not ready', async () => (await readyz()).status === 503, 15_000);
    expect((await readyz()).body).toMatchObject({ status: 'unavailable', redis: 'unreachable' });
  }, 120_000);
});
