/**
 * npm run bench:memory — what pending approvals cost: Redis bytes per pending approval (in all, and
 * by kind of key) and the bot's resident memory, with N approvals pending.
 *
 * The real bot runs as a process of its own against a private redis-server and the Slack emulator,
 * with the default route (expiry after 24 h, so every approval has its expiry timer). The bench
 * enqueues N requests in batches of 100, waits for every card, lets the bot settle, then reads
 * `INFO memory` (used_memory, less what the same Redis held before the first request) and sums
 * `MEMORY USAGE` of every key by family (the key with its ids replaced). RSS is the bot's VmRSS and its high-water mark VmHWM.
 * Options: --pending N (default 10000); --node-args="…" (V8 flags for the bot, e.g. --node-args="--max-old-space-size=96").
 */
import { generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startRedisServer } from '../sandbox/redis-server.js';
import { SlackEmulator } from '../sandbox/slack-emulator.js';
import { validRequest } from '../sandbox/valid-request.js';
import { residentBytes, spawnUntil } from './processes.js';

const { values } = parseArgs({ options: { pending: { type: 'string', default: '10000' }, 'node-args': { type: 'string', default: '' } } });
const PENDING = Number(values.pending);
const TOKEN = 'xoxb-bench';
const SECRET = 'bench-signing-secret-0123456789';
const CHANNEL = 'C0APPROVALS';

execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
const redisServer = await startRedisServer();
const emulator = await new SlackEmulator({ botToken: TOKEN, signingSecret: SECRET, channels: [{ id: CHANNEL, name: 'approvals', botIsMember: true }] }).start();
const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
let channels = 0;
// An ephemeral key: the bot refuses to start without one.
const signingKeyPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const env = { REDIS_URL: redisServer.url, SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: emulator.apiUrl, APPROVALS_CHANNEL: CHANNEL, APPROVERS: 'anyone', LOG_LEVEL: 'warn', DECISION_SIGNING_KEY: signingKeyPem };
const bot = await spawnUntil([...values['node-args'].split(' ').filter(Boolean), 'dist/main.js'], { ...env, LOG_LEVEL: 'info' }, (line) => line.includes('approval gate started'));

try {
  const requests = new Queue('approval-requests', { connection: redis });
  await settle();
  const usedBefore = await usedMemory();
  const rssBefore = residentBytes(bot.child);
  for (let i = 0; i < PENDING; i += 100) {
    await requests.addBulk(Array.from({ length: Math.min(100, PENDING - i) }, () => ({ name: 'request', data: validRequest({ channel: newChannel() }) })));
  }
  while (emulator.messagesIn().length < PENDING) await new Promise((resolve) => setTimeout(resolve, 200));
  await requests.close();
  await settle();
  const used = (await usedMemory()) - usedBefore;
  const rss = residentBytes(bot.child);

  console.log(`\n${PENDING} approvals pending (one card each, expiry timer scheduled)\n`);
  console.log(`Redis, all keys:        ${(used / PENDING).toFixed(0)} bytes per pending approval (used_memory +${mib(used)} MiB)`);
  const families = await usageByFamily();
  for (const [family, { keys, bytes }] of [...families].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 12)) {
    console.log(`  ${family.padEnd(48)} ${String(keys).padStart(6)} keys ${(bytes / PENDING).toFixed(0).padStart(6)} bytes per approval`);
  }
  console.log(`\nbot RSS: ${mib(rssBefore.rss)} MiB idle → ${mib(rss.rss)} MiB with ${PENDING} pending (high-water ${mib(rss.peak)} MiB)`);
} finally {
  bot.child.kill('SIGKILL');
  redis.disconnect();
  await emulator.stop();
  await redisServer.stop();
}

/**
 * A new channel the bot is in: each card goes to a channel of its own, since Slack takes about one
 * message a second per channel (which the bot keeps to) and that pace is not what this measures.
 */
function newChannel(): string {
  channels += 1;
  const id = `C0MEM${channels}`;
  emulator.addChannel({ id, name: `memory-${channels}`, botIsMember: true });
  return id;
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

/**
 * MEMORY USAGE of every key, summed by family: the key with its ids (approval ids, job ids,
 * numbers) replaced by `*`.
 */
async function usageByFamily(): Promise<Map<string, { keys: number; bytes: number }>> {
  const families = new Map<string, { keys: number; bytes: number }>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.memory('USAGE', key);
    const sizes = (await pipeline.exec()) ?? [];
    keys.forEach((key, i) => {
      const family = key.replace(/\bap[0-9a-f]{16,}\b/g, '<approval>').replace(/:[CDG][0-9A-Z]{5,}\b/g, ':<channel>').replace(/(expire|remind|sweep)-[^:]+/g, '$1-*').replace(/:\d+\b/g, ':<n>');
      const entry = families.get(family) ?? { keys: 0, bytes: 0 };
      entry.keys += 1;
      entry.bytes += Number(sizes[i]?.[1] ?? 0);
      families.set(family, entry);
    });
  } while (cursor !== '0');
  return families;
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
