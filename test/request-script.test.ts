import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';

const run = promisify(execFile);

type Result = { code: number; stdout: string; stderr: string };

/** Runs a script as `npm run …` does (tsx), with the given environment; resolves with its exit code and output. */
async function script(args: string[], env: Record<string, string>): Promise<Result> {
  return run('node_modules/.bin/tsx', args, { env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: Result) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

describe('npm run request', () => {
  it('names each bad file and why (line and column for bad JSON), and still sends the good ones', async () => {
    const queueName = `request-script-bad-${process.pid}`;
    const dir = mkdtempSync(join(tmpdir(), 'request-script-'));
    const truncated = join(dir, 'bad.json');
    writeFileSync(truncated, '{\n  "run_id": "r",\n  "step_id": "s",\n');
    const missing = join(dir, 'missing.json');
    const result = await script(['scripts/request.ts', truncated, missing, 'examples/prod-write.json'], { REDIS_URL: inject('redisUrl'), REQUEST_QUEUE: queueName });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${truncated}: not JSON: `);
    expect(result.stderr).toMatch(/bad\.json: not JSON: .* at line 4, column 1|bad\.json: not JSON: Unexpected end of JSON input/);
    expect(result.stderr).toContain(`${missing}: no such file`);
    expect(result.stderr).not.toMatch(/redis/i);
    expect(result.stdout).toContain('examples/prod-write.json: queued as job');
    const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    const queue = new Queue(queueName, { connection: redis });
    try {
      expect(await queue.count()).toBe(1);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      redis.disconnect();
    }
  });

  it('says in one line, without a stack, that Redis cannot be reached', async () => {
    const result = await script(['scripts/request.ts', 'examples/prod-write.json'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(result.code).toBe(3);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^cannot reach Redis at redis:\/\/127\.0\.0\.1:1 \(.*ECONNREFUSED.*\): start redis-server or set REDIS_URL; nothing was sent$/)]);
  });

  it('queues the example requests, and refuses an invalid one with the reasons', async () => {
    const queueName = `request-script-${process.pid}`;
    const invalid = join(mkdtempSync(join(tmpdir(), 'request-script-')), 'invalid.json');
    writeFileSync(invalid, JSON.stringify({ run_id: 'r', step_id: 's' }));
    const env = { ...process.env, REDIS_URL: inject('redisUrl'), REQUEST_QUEUE: queueName };
    const result = await run('node_modules/.bin/tsx', ['scripts/request.ts', 'examples/prod-write.json', 'examples/secrets-access.json', invalid], { env }).catch((err: { code: number; stdout: string; stderr: string }) => err);
    expect('code' in result ? result.code : 0).toBe(2);
    expect(result.stdout).toContain('examples/prod-write.json: queued as job');
    expect(result.stderr).toContain('invalid.json: not sent, the bot would reject it:\n  requested_by: required');

    const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    const queue = new Queue(queueName, { connection: redis });
    try {
      const jobs = await queue.getJobs(['wait']);
      expect(jobs.map((job) => [job.name, job.data.run_id]).sort()).toEqual([['request', 'run_51c2'], ['request', 'run_8f9a']]);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      redis.disconnect();
    }
  });
});

describe('npm run audit', () => {
  it('says in one line, without a stack, that Redis cannot be reached', async () => {
    const result = await script(['scripts/audit.ts', 'run_1'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(result.code).toBe(3);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^cannot reach Redis at redis:\/\/127\.0\.0\.1:1 \(.*ECONNREFUSED.*\): start redis-server or set REDIS_URL$/)]);
  });
});
