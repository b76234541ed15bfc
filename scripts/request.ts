/**
 * npm run request -- <file.json> [more.json …]
 * Puts approval requests on the request queue, as a workflow engine would. Reads REDIS_URL,
 * REQUEST_QUEUE and QUEUE_PREFIX like the bot. Checks each request against the contract first and
 * says what is wrong instead of sending a request the bot would reject.
 */
import { readFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { parseRequest, REQUEST_JOB_NAME } from '../src/domain/contract.js';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: npm run request -- <request.json> [more.json …]   (see examples/)');
  process.exit(2);
}
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const queueName = process.env.REQUEST_QUEUE || 'approval-requests';
const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
let exitCode = 0;
try {
  await redis.connect();
  const queue = new Queue(queueName, { connection: redis, prefix: process.env.QUEUE_PREFIX || 'bull' });
  for (const file of files) {
    const data: unknown = JSON.parse(readFileSync(file, 'utf8'));
    const parsed = parseRequest(data);
    if (!parsed.ok) {
      console.error(`${file}: not sent, the bot would reject it:\n  ${parsed.problems.join('\n  ')}`);
      exitCode = 1;
      continue;
    }
    const job = await queue.add(REQUEST_JOB_NAME, data);
    console.log(`${file}: queued as job ${job.id} on ${queueName} (run ${parsed.request.run_id}, step ${parsed.request.step_id})`);
  }
  await queue.close();
} catch (err) {
  console.error(`could not queue the request on ${redisUrl}: ${err instanceof Error ? err.message : String(err)}`);
  exitCode = 1;
} finally {
  redis.disconnect();
}
process.exit(exitCode);
