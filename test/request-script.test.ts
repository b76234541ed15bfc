import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';

const run = promisify(execFile);

describe('npm run request', () => {
  it('queues the example requests, and refuses an invalid one with the reasons', async () => {
    const queueName = `request-script-${process.pid}`;
    const invalid = join(mkdtempSync(join(tmpdir(), 'request-script-')), 'invalid.json');
    writeFileSync(invalid, JSON.stringify({ run_id: 'r', step_id: 's' }));
    const env = { ...process.env, REDIS_URL: inject('redisUrl'), REQUEST_QUEUE: queueName };
    const result = await run('node_modules/.bin/tsx', ['scripts/request.ts', 'examples/prod-write.json', 'examples/secrets-access.json', invalid], { env }).catch((err: { code: number; stdout: string; stderr: string }) => err);
    expect('code' in result ? result.code : 0).toBe(1);
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
