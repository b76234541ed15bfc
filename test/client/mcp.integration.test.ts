import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_DENY } from '../../src/views/cards.js';
import { approvalIdOf } from '../../src/domain/contract.js';
import { verifyDecision } from '../../src/client/verify-decision.js';
import { POLICY_SNAPSHOT, useGates, type Gate } from '../helpers/gate.js';
import { TEST_KEY_ID, TEST_PUBLIC_KEY } from '../helpers/signing-key.js';
import { waitFor } from '../helpers/wait.js';

/** `approval-gate mcp` as an agent's MCP client starts it: spawned over stdio, driven by the SDK's own Client. */

const gates = useGates();
const publicKeyFile = join(mkdtempSync(join(tmpdir(), 'mcp-test-')), 'gate.pub.pem');
writeFileSync(publicKeyFile, TEST_PUBLIC_KEY.export({ type: 'spki', format: 'pem' }));
const clients: Client[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
});

async function agentOf(gate: Gate, name = 'claude-code'): Promise<Client> {
  const { REDIS_URL, REQUEST_QUEUE, RESUME_QUEUE, STATE_PREFIX, POLICY_SNAPSHOT_KEY } = gate.env;
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['dist/client/cli/main.js', 'mcp'],
    env: { PATH: process.env.PATH ?? '', REDIS_URL: REDIS_URL!, REQUEST_QUEUE: REQUEST_QUEUE!, RESUME_QUEUE: RESUME_QUEUE!, STATE_PREFIX: STATE_PREFIX!, POLICY_SNAPSHOT_KEY: POLICY_SNAPSHOT_KEY!, DECISION_PUBLIC_KEY_FILE: publicKeyFile, DECISION_SIGNING_KEY_ID: TEST_KEY_ID },
    stderr: 'pipe',
  });
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(transport);
  clients.push(client);
  return client;
}

type Answer = { state: string; run_id: string; step_id: string; decision?: Record<string, unknown>; may_proceed?: boolean; reason?: string };

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<Answer> {
  const result = await client.callTool({ name, arguments: args });
  if (result.isError) throw new Error(JSON.stringify(result.content));
  const [first] = result.content as { type: string; text: string }[];
  const answer = JSON.parse(first!.text) as Answer;
  expect(result.structuredContent).toEqual(answer);
  return answer;
}

const job = { tool: 'postgres.execute', sql: 'DELETE FROM sessions WHERE expires_at < now()' };
const ask = { what: 'Delete expired sessions in production', why: 'The sessions table is at 95% of its disk', job, risk_tags: ['prod', 'write'] };

async function clickWhenPosted(gate: Gate, step: { run_id: string; step_id: string }, actionId: string, user: string) {
  const card = await waitFor('the card', () => gate.cardsFor(step)[0]);
  await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId, user });
}

describe('approval-gate mcp', () => {
  it('offers two tools whose schemas do not let the agent choose the policy snapshot, the channel or the approvers', async () => {
    const gate = await gates.open();
    const { tools } = await (await agentOf(gate)).listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['get_approval', 'request_approval']);
    const asked = tools.find((t) => t.name === 'request_approval')!;
    expect(Object.keys(asked.inputSchema.properties ?? {}).sort()).toEqual(['constraints', 'job', 'risk_tags', 'run_id', 'step_id', 'wait_sec', 'what', 'why']);
    expect(asked.inputSchema.properties?.wait_sec).toMatchObject({ maximum: 50 });
  });

  it('request_approval posts a card as the MCP client, and returns the signed approval clicked in Slack', async () => {
    const gate = await gates.open();
    const agent = await agentOf(gate);
    const pending = call(agent, 'request_approval', { ...ask, run_id: 'mcp-agent-run-1', step_id: 'cleanup', wait_sec: 30 });
    await clickWhenPosted(gate, { run_id: 'mcp-agent-run-1', step_id: 'cleanup' }, ACTION_APPROVE, 'U0ALICE');
    const answer = await pending;
    expect(answer).toMatchObject({ state: 'decided', may_proceed: true, decision: { decision: 'approved', decided_by: { id: 'U0ALICE' }, policy_snapshot: POLICY_SNAPSHOT } });
    expect(verifyDecision(answer.decision, { job, policySnapshot: POLICY_SNAPSHOT, publicKeys: { [TEST_KEY_ID]: TEST_PUBLIC_KEY } })).toMatchObject({ ok: true });
    const record = await gate.redis.hget(`${gate.env.STATE_PREFIX}:approval:${approvalIdOf({ run_id: 'mcp-agent-run-1', step_id: 'cleanup' })}`, 'request');
    expect(JSON.parse(record!)).toMatchObject({ requested_by: 'mcp:claude-code', reason: 'Delete expired sessions in production\n\nWhy: The sessions table is at 95% of its disk' });
  });

  it('returns a denial as decided, with may_proceed false', async () => {
    const gate = await gates.open();
    const agent = await agentOf(gate);
    const pending = call(agent, 'request_approval', { ...ask, run_id: 'mcp-agent-run-2', step_id: 'cleanup', wait_sec: 30 });
    await clickWhenPosted(gate, { run_id: 'mcp-agent-run-2', step_id: 'cleanup' }, ACTION_DENY, 'U0BOB');
    expect(await pending).toMatchObject({ state: 'decided', may_proceed: false, decision: { decision: 'denied', decided_by: { id: 'U0BOB' } } });
  });

  it('answers pending when nobody decided within wait_sec, and get_approval returns the decision made later', async () => {
    const gate = await gates.open();
    const agent = await agentOf(gate);
    const first = await call(agent, 'request_approval', { ...ask, wait_sec: 1 });
    expect(first).toMatchObject({ state: 'pending', next: expect.stringContaining('get_approval') });
    expect(first.run_id).toMatch(/^mcp-[0-9a-f]{12}$/);
    expect(await call(agent, 'get_approval', { run_id: first.run_id, step_id: first.step_id })).toMatchObject({ state: 'pending' });
    await clickWhenPosted(gate, first, ACTION_APPROVE, 'U0ALICE');
    expect(await call(agent, 'get_approval', { run_id: first.run_id, step_id: first.step_id, wait_sec: 20 })).toMatchObject({ state: 'decided', may_proceed: true, decision: { decision: 'approved' } });
    expect(await call(agent, 'get_approval', { run_id: 'mcp-never-asked', step_id: 'x' })).toMatchObject({ state: 'unknown' });
  });

  it('get_approval from a new session answers the decision only for the job hash and policy snapshot request_approval returned', async () => {
    const gate = await gates.open();
    const first = await call(await agentOf(gate), 'request_approval', { ...ask, wait_sec: 0 });
    expect(first).toMatchObject({ job_hash: expect.stringMatching(/^sha256:/), policy_snapshot: POLICY_SNAPSHOT });
    await clickWhenPosted(gate, first, ACTION_APPROVE, 'U0ALICE');
    await waitFor('the decision', async () => (await gate.decisions()).length === 1);
    const later = await agentOf(gate, 'restarted-agent');
    const step = { run_id: first.run_id, step_id: first.step_id };
    const unbound = await call(later, 'get_approval', step);
    const otherJob = await call(later, 'get_approval', { ...step, job_hash: `sha256:${'0'.repeat(64)}`, policy_snapshot: POLICY_SNAPSHOT });
    const bound = await call(later, 'get_approval', { ...step, job_hash: (first as unknown as { job_hash: string }).job_hash, policy_snapshot: POLICY_SNAPSHOT });
    expect([unbound, otherJob, bound]).toMatchObject([
      { state: 'mismatch', may_proceed: false, reason: expect.stringContaining('job_hash and policy_snapshot') },
      { state: 'mismatch', may_proceed: false, reason: expect.stringContaining('job_mismatch') },
      { state: 'decided', may_proceed: true, decision: { decision: 'approved' } },
    ]);
  });

  it('refuses a wait beyond 50 s and a request the bot would refuse, as tool errors', async () => {
    const gate = await gates.open();
    const agent = await agentOf(gate);
    const tooLong = await agent.callTool({ name: 'request_approval', arguments: { ...ask, wait_sec: 600 } });
    expect(tooLong.isError).toBe(true);
    const refused = await agent.callTool({ name: 'request_approval', arguments: { ...ask, risk_tags: ['x'.repeat(65)] } });
    expect(refused.isError).toBe(true);
    expect(await gate.requests.count()).toBe(0);
  });
});
