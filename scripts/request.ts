/**
 * npm run request -- <file.json> [more.json …]
 * Puts approval requests on the request queue, as a workflow engine would. Reads REDIS_URL,
 * REQUEST_QUEUE and QUEUE_PREFIX like the bot. Reads and checks every file against the contract
 * first, says what is wrong with each (naming the file, and the line and column of bad JSON), and
 * sends the good ones; it exits 1 when any file was not sent.
 */
import { readFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { parseRequest, REQUEST_JOB_NAME } from '../src/domain/contract.js';
import { redactRedisUrl } from '../src/ops/redis-settings.js';
import { connectRedis } from './connect-redis.js';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: npm run request -- <request.json> [more.json …]   (see examples/)');
  process.exit(2);
}

type Checked = { file: string; data: unknown; runId: string; stepId: string } | { file: string; problem: string };

/** Reads, parses and checks one file; never throws. */
function check(file: string): Checked {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { file, problem: code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? String(err)})` };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { file, problem: `not JSON: ${jsonProblem(text, err as Error)}` };
  }
  const parsed = parseRequest(data);
  if (!parsed.ok) return { file, problem: `not sent, the bot would reject it:\n  ${parsed.problems.join('\n  ')}` };
  return { file, data, runId: parsed.request.run_id, stepId: parsed.request.step_id };
}

/** JSON.parse's message with the line and column of its `position`, which is easier to find in an editor. */
function jsonProblem(text: string, err: Error): string {
  const position = /at position (\d+)/.exec(err.message);
  if (!position) return err.message;
  const before = text.slice(0, Number(position[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${err.message.replace(/ at position \d+.*$/, '')} at line ${line}, column ${column}`;
}

const checked = files.map(check);
let exitCode = 0;
for (const bad of checked.filter((c) => 'problem' in c)) {
  console.error(`${bad.file}: ${bad.problem}`);
  exitCode = 1;
}
const good = checked.filter((c): c is Extract<Checked, { data: unknown }> => !('problem' in c));
if (good.length > 0) exitCode = Math.max(exitCode, await send(good));
process.exit(exitCode);

/** Queues the checked requests; a Redis that cannot be reached is one line, not a stack. @returns the exit code. */
async function send(requests: Extract<Checked, { data: unknown }>[]): Promise<number> {
  const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  const queueName = process.env.REQUEST_QUEUE || 'approval-requests';
  const shown = redactRedisUrl(redisUrl);
  let redis: Redis;
  try {
    redis = await connectRedis(redisUrl);
  } catch (err) {
    console.error(`${(err as Error).message}; nothing was sent`);
    return 1;
  }
  const queue = new Queue(queueName, { connection: redis, prefix: process.env.QUEUE_PREFIX || 'bull' });
  let code = 0;
  for (const request of requests) {
    try {
      const job = await queue.add(REQUEST_JOB_NAME, request.data);
      console.log(`${request.file}: queued as job ${job.id} on ${queueName} (run ${request.runId}, step ${request.stepId})`);
    } catch (err) {
      console.error(`${request.file}: could not be queued on ${shown}: ${(err as Error).message}`);
      code = 1;
    }
  }
  await queue.close().catch(() => undefined);
  redis.disconnect();
  return code;
}
