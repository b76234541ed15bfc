import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../sandbox/redis-server.js';

/**
 * An agent calls the gate's MCP tools: a Redis that accepts connections but never answers (a hung or
 * stopped process) must end each tool call with an error that says what failed and what to do, well
 * within the 60 s MCP clients commonly allow a call, never hold the agent until its client gives up.
 */

const POLICY_SNAPSHOT = 'sha256:7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c';
const servers: RedisServer[] = [];
const agents: Client[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.resume();
    await server.stop();
  }
  for (const agent of agents.splice(0)) await agent.close();
});

/** `approval-gate mcp` on a Redis that answers at start (with a policy snapshot in force), connected as an agent's MCP client connects. */
async function agentOnRedis(): Promise<{ agent: Client; server: RedisServer }> {
  const server = await startRedisServer();
  servers.push(server);
  const redis = new Redis(server.url);
  await redis.set('approvals:policy-snapshot', POLICY_SNAPSHOT);
  redis.disconnect();
  const transport = new StdioClientTransport({ command: process.execPath, args: ['dist/client/cli/main.js', 'mcp'], env: { PATH: process.env.PATH ?? '', REDIS_URL: server.url }, stderr: 'pipe' });
  const agent = new Client({ name: 'hung-redis-agent', version: '1.0.0' });
  await agent.connect(transport);
  agents.push(agent);
  return { agent, server };
}

/** Calls a tool; resolves with its error text (or 'answered' for a result that is not an error) and how long the call took (ms). */
async function callTimed(agent: Client, name: string, args: Record<string, unknown>): Promise<{ outcome: string; ms: number }> {
  const started = Date.now();
  // The SDK's own limit is 60 s: past it the call fails here, as an agent's client would give up.
  const result = await agent.callTool({ name, arguments: args }, undefined, { timeout: 58_000 }).catch((err: Error) => ({ isError: true, content: [{ type: 'text', text: `no answer: ${err.message}` }] }));
  const text = (result.content as { text: string }[])[0]?.text ?? '';
  const ms = Date.now() - started;
  console.info(`${name} on a hung Redis: ${ms} ms`);
  return { outcome: result.isError ? text : 'answered', ms };
}

const job = { tool: 'postgres.execute', sql: 'DELETE FROM sessions WHERE expires_at < now()' };
const ask = { what: 'Delete expired sessions in production', why: 'The sessions table is at 95% of its disk', job, risk_tags: ['prod', 'write'] };
const bound = { job_hash: `sha256:${'a'.repeat(64)}`, policy_snapshot: POLICY_SNAPSHOT };

describe('approval-gate mcp against a Redis that hangs', () => {
  it('request_approval ends within 15 s with a tool error that says the request may or may not be queued and how to find out', async () => {
    const { agent, server } = await agentOnRedis();
    server.pause();
    const { outcome, ms } = await callTimed(agent, 'request_approval', { ...ask, run_id: 'mcp-hung-1', step_id: 'cleanup', wait_sec: 30 });
    expect({ ms: ms < 15_000 ? 'within 15 s' : ms }).toEqual({ ms: 'within 15 s' });
    expect(outcome).toMatch(/^Redis did not answer .* within 10 s: the request for run_id "mcp-hung-1", step_id "cleanup" may or may not be queued/);
    expect(outcome).toMatch(/check that Redis \(REDIS_URL\) is up and answering, then call get_approval with this run_id and step_id/);
  });

  it('get_approval of a step this session did not ask for ends within 15 s with a tool error naming the read and what to do', async () => {
    const { agent, server } = await agentOnRedis();
    server.pause();
    const { outcome, ms } = await callTimed(agent, 'get_approval', { run_id: 'mcp-hung-2', step_id: 'cleanup' });
    expect({ ms: ms < 15_000 ? 'within 15 s' : ms }).toEqual({ ms: 'within 15 s' });
    expect(outcome).toMatch(/^Redis did not answer the read of the approval's state within 5 s .*nothing was decided or cancelled by this call: check that Redis \(REDIS_URL\) is up and answering, then call get_approval again; do not proceed meanwhile/);
  });

  it('get_approval waiting 50 s for a decision ends within 45 s once Redis has not answered for 30 s, as a tool error', async () => {
    const { agent, server } = await agentOnRedis();
    // One answered call first, so the server's connection is in use when Redis stops.
    expect(await callTimed(agent, 'get_approval', { run_id: 'mcp-hung-3', step_id: 'cleanup', ...bound })).toMatchObject({ outcome: 'answered' });
    server.pause();
    const { outcome, ms } = await callTimed(agent, 'get_approval', { run_id: 'mcp-hung-3', step_id: 'cleanup', ...bound, wait_sec: 50 });
    expect({ ms: ms < 45_000 ? 'within 45 s' : ms }).toEqual({ ms: 'within 45 s' });
    expect(outcome).toMatch(/^Redis has not answered for \d+ s while waiting for the decision of run mcp-hung-3, step cleanup; nothing was cancelled: check that Redis \(REDIS_URL\) is up and answering, then call get_approval again; do not proceed meanwhile/);
  });

  it('get_approval without a wait ends within 15 s as a tool error when Redis stops answering', async () => {
    const { agent, server } = await agentOnRedis();
    server.pause();
    const { outcome, ms } = await callTimed(agent, 'get_approval', { run_id: 'mcp-hung-4', step_id: 'cleanup', ...bound });
    expect({ ms: ms < 15_000 ? 'within 15 s' : ms }).toEqual({ ms: 'within 15 s' });
    expect(outcome).toMatch(/^Redis has not answered .*check that Redis \(REDIS_URL\) is up and answering, then call get_approval again; do not proceed meanwhile/);
  });
});
