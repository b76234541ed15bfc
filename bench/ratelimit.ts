/**
 * npm run bench:ratelimit — 300 cards to one channel while Slack (the emulator) allows one message a
 * second per channel (burst 3, 429 with Retry-After over it), and meanwhile a card every 2 s to
 * other channels. Reports, per run: the drain time of the one channel against its floor (the time
 * Slack's limit alone imposes), calls Slack refused (429) per card, the p99 latency of the other
 * channels' cards (enqueue → card in the emulator), log lines per card at the bot's default level,
 * and CPU.
 *
 * The product's intake worker runs in this process as main.ts wires it, against a private
 * redis-server and the emulator; the CPU figure is this whole process (worker, emulator, producer).
 * Options: --cards N (default 300), --runs N (default 1), --concurrency N (default 10, the bot's default).
 */
import { generateKeyPairSync } from 'node:crypto';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { WebClient } from '@slack/web-api';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createRequestWorker } from '../src/intake/request-worker.js';
import { createLogger } from '../src/ops/logger.js';
import { createRequesterNotices } from '../src/intake/requester-notice.js';
import { createOutbox } from '../src/store/outbox.js';
import { createTimers } from '../src/intake/timers.js';
import { createDueTimes } from '../src/store/due-times.js';
import { startRedisServer } from '../sandbox/redis-server.js';
import { SlackEmulator } from '../sandbox/slack-emulator.js';
import { shorthandRoutes } from '../src/domain/routes.js';
import { createStore } from '../src/store/store.js';
import { createSendTurns } from '../src/store/send-turns.js';
import { approvalIdOf } from '../src/domain/contract.js';
import { validRequest } from '../sandbox/valid-request.js';

const { values } = parseArgs({ options: { cards: { type: 'string', default: '300' }, runs: { type: 'string', default: '1' }, concurrency: { type: 'string', default: '10' } } });
const CARDS = Number(values.cards);
const RUNS = Number(values.runs);
const CONCURRENCY = Number(values.concurrency);
const TOKEN = 'xoxb-bench';
const BUSY = 'C0BUSY';
const SLACK_LIMIT = { perSecond: 1, burst: 3 };
const OTHER_EVERY_MS = 2000;

interface Run {
  drainSec: number;
  floorSec: number;
  refusedPerCard: number;
  othersP99Ms: number;
  others: number;
  logLinesPerCard: number;
  cpuSec: number;
}

const results: Run[] = [];
for (let run = 1; run <= RUNS; run += 1) {
  const result = await measure();
  results.push(result);
  console.log(`run ${run}: ${format(result)}`);
}
if (RUNS > 1) {
  const stat = (pick: (r: Run) => number) => {
    const sorted = results.map(pick).sort((a, b) => a - b);
    return `${sorted[0]!.toFixed(3)} / ${sorted[Math.floor(sorted.length / 2)]!.toFixed(3)} / ${sorted.at(-1)!.toFixed(3)}`;
  };
  console.log('\nmin / median / max over runs');
  console.log(`drain / floor:        ${stat((r) => r.drainSec / r.floorSec)}`);
  console.log(`429s per card:        ${stat((r) => r.refusedPerCard)}`);
  console.log(`other channels p99 ms: ${stat((r) => r.othersP99Ms)}`);
  console.log(`log lines per card:   ${stat((r) => r.logLinesPerCard)}`);
  console.log(`CPU s:                ${stat((r) => r.cpuSec)}`);
}

function format(r: Run): string {
  return (
    `${CARDS} cards to one channel drained in ${r.drainSec.toFixed(1)} s against a floor of ${r.floorSec.toFixed(1)} s (${(r.drainSec / r.floorSec).toFixed(3)}×); ` +
    `${r.refusedPerCard.toFixed(3)} refused calls (429) per card; ${r.others} cards to other channels meanwhile, p99 ${r.othersP99Ms.toFixed(0)} ms; ` +
    `${r.logLinesPerCard.toFixed(2)} log lines per card; CPU ${r.cpuSec.toFixed(1)} s`
  );
}

async function measure(): Promise<Run> {
  const redisServer = await startRedisServer();
  const emulator = await new SlackEmulator({ botToken: TOKEN, channels: [{ id: BUSY, name: 'busy', botIsMember: true }], channelRateLimit: SLACK_LIMIT }).start();
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  const slack = new WebClient(TOKEN, { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, timeout: 10_000 });
  let logLines = 0;
  const log = createLogger('info', new Writable({ write: (_chunk, _enc, done) => ((logLines += 1), done()) }));
  const queue = new Queue('requests', { connection: redis });
  const store = createStore(redis, { prefix: 'bench', audit: { key: 'bench:audit', maxLen: 100_000 }, retentionSec: 3600, leaseMs: 10_000 });
  const notices = createRequesterNotices({ slack, store, log });
  const turns = createSendTurns(redis, { prefix: 'bench' });
  const signingKey = { keyId: 'bench', privateKey: generateKeyPairSync('ed25519').privateKey };
  const outbox = createOutbox({ connection: redis, queueName: 'resume', queuePrefix: 'bull', retentionSec: 3600, signingKey, store, slack, turns, onSettled: (record) => notices.ended(record), log });
  const routes = shorthandRoutes(BUSY, undefined);
  const policySnapshotKey = 'bench:policy';
  const own = { botId: emulator.botId, userId: emulator.botUserId };
  const timers = createTimers({ due: createDueTimes(redis, 'bench'), routes, store, outbox, slack, own, turns, policySnapshotKey, log });
  const worker = createRequestWorker({ connection: redis, queueName: 'requests', queuePrefix: 'bull', concurrency: CONCURRENCY, routes, store, outbox, timers, notices, slack, own, turns, policySnapshotKey, log });
  await worker.waitUntilReady();
  try {
    const cpuBefore = process.cpuUsage();
    const startedAt = Date.now();
    await queue.addBulk(Array.from({ length: CARDS }, () => ({ name: 'request', data: validRequest({ channel: BUSY }) })));
    // Cards to other channels while the busy one drains: each to a channel of its own.
    const enqueuedAt = new Map<string, number>();
    let others = 0;
    const busyCards = () => emulator.messagesIn(BUSY).length;
    while (busyCards() < CARDS) {
      others += 1;
      const channel = `C0OTHER${others}`;
      emulator.addChannel({ id: channel, name: `other-${others}`, botIsMember: true });
      const request = validRequest({ channel });
      enqueuedAt.set(approvalIdOf(request as { run_id: string; step_id: string }), Date.now());
      await queue.add('request', request);
      const until = Date.now() + OTHER_EVERY_MS;
      while (Date.now() < until && busyCards() < CARDS) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const drainSec = (Date.now() - startedAt) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const latencies = emulator
      .messagesIn()
      .filter((message) => message.channel !== BUSY)
      .map((message) => Number(message.ts) * 1000 - enqueuedAt.get(String(message.metadata?.event_payload.approval_id))!)
      .sort((a, b) => a - b);
    const refused = emulator.callsOf('chat.postMessage').filter((call) => call.answered === 'HTTP 429').length;
    return {
      drainSec,
      floorSec: (CARDS - SLACK_LIMIT.burst) / SLACK_LIMIT.perSecond,
      refusedPerCard: refused / CARDS,
      othersP99Ms: latencies[Math.min(latencies.length - 1, Math.floor(0.99 * latencies.length))] ?? NaN,
      others: latencies.length,
      logLinesPerCard: logLines / (CARDS + latencies.length),
      cpuSec: (cpu.user + cpu.system) / 1e6,
    };
  } finally {
    await worker.close();
    await Promise.all([timers.close(), outbox.close()]);
    await queue.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
    await emulator.stop();
    await redisServer.stop();
  }
}
