import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../sandbox/redis-server.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { connectRedis } from '../../src/client/cli/connect-redis.js';
import { Redis } from 'ioredis';
import { waitFor } from '../helpers/wait.js';

/**
 * A CI step gates a deploy on `approval-gate`: a Redis that accepts connections but never answers
 * (a hung or stopped process) must end the command with an exit code, not hold the pipeline forever.
 */

const servers: RedisServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.resume();
    await server.stop();
  }
});

/** Runs the built CLI; resolves with its exit code, or 'still running' after `limitMs` (then kills it). */
function cliWithin(args: string[], url: string, limitMs: number): Promise<number | 'still running'> {
  return cliRun(args, url, limitMs).code;
}

/** Runs the built CLI, with its exit code (or 'still running' after `limitMs`, then killed) and what it wrote on stderr. */
function cliRun(args: string[], url: string, limitMs: number): { code: Promise<number | 'still running'>; stderr: () => string } {
  const child = spawn(process.execPath, ['dist/client/cli/main.js', ...args], { env: { PATH: process.env.PATH ?? '', REDIS_URL: url }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const code = new Promise<number | 'still running'>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('still running');
    }, limitMs);
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode ?? -1);
    });
  });
  return { code, stderr: () => stderr };
}

/** Starts `request FILE --wait …` against a Redis that answers, and stops Redis once the request is on the queue. */
async function waitThenSilence(extra: string[]): Promise<{ code: Promise<number | 'still running'>; stderr: () => string; silencedAt: number }> {
  const server = await startRedisServer();
  servers.push(server);
  const file = join(mkdtempSync(join(tmpdir(), 'cli-hung-')), 'request.json');
  writeFileSync(file, JSON.stringify(validRequest()));
  const run = cliRun(['request', file, '--wait', ...extra], server.url, 60_000);
  const redis = new Redis(server.url);
  try {
    await waitFor('the request on the queue', async () => (await redis.llen('bull:approval-requests:wait')) === 1, 15_000);
  } finally {
    redis.disconnect();
  }
  // Let the waiter start its reads and open its events on a Redis that answers.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  server.pause();
  return { ...run, silencedAt: Date.now() };
}

describe('approval-gate against a Redis that hangs', () => {
  it('status and request --wait --timeout 2s end with an exit code within 20 s when Redis accepts connections but never answers', async () => {
    const server = await startRedisServer();
    servers.push(server);
    server.pause();
    const file = join(mkdtempSync(join(tmpdir(), 'cli-hung-')), 'request.json');
    writeFileSync(file, JSON.stringify(validRequest()));
    const [status, request] = await Promise.all([cliWithin(['status', 'run_1', 'remediate'], server.url, 20_000), cliWithin(['request', file, '--wait', '--timeout', '2s'], server.url, 20_000)]);
    // 3: Redis cannot be reached; 14 would do for the wait. Anything but hanging.
    expect({ status, request }).toEqual({ status: 3, request: 3 });
  });

  it('request --wait exits 3 within 45 s, saying what to do, when Redis stops answering after the request was queued', async () => {
    const run = await waitThenSilence([]);
    const code = await run.code;
    expect({ code, within45s: Date.now() - run.silencedAt < 45_000 }).toEqual({ code: 3, within45s: true });
    expect(run.stderr()).toMatch(/Redis has not answered for \d+ s while waiting for the decision of run .*nothing was cancelled: check that Redis \(REDIS_URL\) is up and answering, then "approval-gate status RUN STEP"/);
  });

  it('request --wait --timeout 3s exits 3 (Redis), not 14 (pending), when Redis is silent at the timeout', async () => {
    const run = await waitThenSilence(['--timeout', '3s']);
    const code = await run.code;
    expect({ code, within15s: Date.now() - run.silencedAt < 15_000 }).toEqual({ code: 3, within15s: true });
    expect(run.stderr()).toContain('Redis has not answered');
  });

  it('a command on the command line’s connection fails within 10 s when Redis stops answering after it connected', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const redis = await connectRedis({ url: server.url, waitReplicas: { count: 0, timeoutMs: 500 } });
    try {
      server.pause();
      const started = Date.now();
      const outcome = await redis.get('anything').then(
        () => 'answered',
        (err: unknown) => (err as Error).message,
      );
      expect({ outcome, within10s: Date.now() - started < 10_000 }).toEqual({ outcome: 'Command timed out', within10s: true });
    } finally {
      redis.disconnect();
    }
  });
});
