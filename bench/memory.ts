/**
 * npm run bench:memory — what pending approvals cost: Redis bytes per pending approval (in all, and
 * by kind of key) and the bot's resident memory, with N approvals pending.
 *
 * The real bot runs as a process of its own against a private redis-server and the Slack emulator,
 * with the default route (expiry after 24 h, so every approval has its expiry timer). The bench
 * enqueues N requests in batches of 100, waits for every card, lets the bot settle, then reads
 * `INFO memory` (used_memory, less what the same Redis held before the first request) and samples
 * `MEMORY USAGE` of each kind of key. RSS is the bot's VmRSS and its high-water mark VmHWM.
 * Options: --pending N (default 10000).
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startRedisServer } from '../sandbox/redis-server.js';
import { SlackEmulator } from '../sandbox/slack-emulator.js';
import { validRequest } from '../sandbox/valid-request.js';
import { residentBytes, spawnUntil } from './processes.js';

const { values } = parseArgs({ options: { pending: { type: 'string', default: '10000' } } });
const PENDING = Number(values.pending);
const TOKEN = 'xoxb-bench';
const SECRET = 'bench-signing-secret-0123456789';
const CHANNEL = 'C0APPROVALS';
const SAMPLE = 200;

execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
const redisServer = await startRedisServer();
const emulator = await new SlackEmulator({ botToken: TOKEN, signingSecret: SECRET, channels: [{ id: CHANNEL, name: 'approvals', botIsMember: true }] }).start();
const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
const env = { REDIS_URL: redisServer.url, SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: emulator.apiUrl, APPROVALS_CHANNEL: CHANNEL, APPROVERS: 'anyone', LOG_LEVEL: 'warn' };
const bot = await spawnUntil(['dist/main.js'], { ...env, LOG_LEVEL: 'info' }, (line) => line.includes('approval gate started'));

try {
  const requests = new Queue('approval-requests', { connection: redis });
  await settle();
  const usedBefore = await usedMemory();
  const rssBefore = residentBytes(bot.child);
  for (let i = 0; i < PENDING; i += 100) {
    await requests.addBulk(Array.from({ length: Math.min(100, PENDING - i) }, () => ({ name: 'request', data: validRequest() })));
  }
  while (emulator.messagesIn(CHANNEL).length < PENDING) await new Promise((resolve) => setTimeout(resolve, 200));
  await requests.close();
  await settle();
  const used = (await usedMemory()) - usedBefore;
  const rss = residentBytes(bot.child);

  console.log(`\n${PENDING} approvals pending (one card each, expiry timer scheduled)\n`);
  console.log(`Redis, all keys:        ${(used / PENDING).toFixed(0)} bytes per pending approval (used_memory +${mib(used)} MiB)`);
  let accounted = 0;
  for (const [kind, pattern] of [
    ['approval record', 'approvals:approval:*'],
    ['request job (finished)', 'bull:approval-requests:[0-9]*'],
    ['expiry timer job', 'bull:approval-requests-timers:expire*'],
  ] as const) {
    const sample = await sampleUsage(pattern);
    accounted += sample.count * sample.mean;
    console.log(`  ${kind.padEnd(24)} ${sample.count} keys, ${sample.mean.toFixed(0)} bytes each (MEMORY USAGE, mean of ${sample.sampled})`);
  }
  const audit = Number(await redis.memory('USAGE', 'approvals:audit'));
  console.log(`  ${'audit stream'.padEnd(24)} ${(audit / PENDING).toFixed(0)} bytes per approval`);
  accounted += audit;
  console.log(`  ${'the rest'.padEnd(24)} ${((used - accounted) / PENDING).toFixed(0)} bytes per approval (indexes, card lookups, BullMQ's sets and its event streams, capped at 10,000 entries each)`);
  console.log(`\nbot RSS: ${mib(rssBefore.rss)} MiB idle → ${mib(rss.rss)} MiB with ${PENDING} pending (high-water ${mib(rss.peak)} MiB)`);
} finally {
  bot.child.kill('SIGKILL');
  redis.disconnect();
  await emulator.stop();
  await redisServer.stop();
}

/** Waits until the bot's queues are idle for a second (cards posted, timers scheduled). */
async function settle(): Promise<void> {
  let quiet = 0;
  let last = -1;
  while (quiet < 5) {
    const now = Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))?.[1]);
    quiet = now - last < 50 ? quiet + 1 : 0;
    last = now;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function usedMemory(): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
}

/** How many keys match `pattern`, and the mean MEMORY USAGE of up to SAMPLE of them. */
async function sampleUsage(pattern: string): Promise<{ count: number; sampled: number; mean: number }> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch.filter((key) => !/:(logs|lock|dependencies|processed)$/.test(key)));
  } while (cursor !== '0');
  const sample = keys.slice(0, SAMPLE);
  const sizes = await Promise.all(sample.map(async (key) => Number(await redis.memory('USAGE', key))));
  return { count: keys.length, sampled: sample.length, mean: sizes.reduce((a, b) => a + b, 0) / Math.max(1, sizes.length) };
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
