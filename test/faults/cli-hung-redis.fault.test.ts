import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../sandbox/redis-server.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { connectRedis } from '../../src/client/cli/connect-redis.js';

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
  const child = spawn(process.execPath, ['dist/client/cli/main.js', ...args], { env: { PATH: process.env.PATH ?? '', REDIS_URL: url }, stdio: 'ignore' });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('still running');
    }, limitMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve(code ?? -1);
    });
  });
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
