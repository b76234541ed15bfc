/**
 * npm run bench:intake — request → card throughput and latency of the intake worker, next to a
 * bare baseline measured in the same run: a plain BullMQ worker that posts the same blocks with
 * the same Slack client settings, with no validation and no state.
 *
 * Both run in this process against the same private redis-server and the same Slack emulator,
 * each on a fresh queue, warmed up, then in alternated rounds (odd rounds baseline first, even
 * rounds gate first). Latency is enqueue → the card recorded by the emulator. Per request it also
 * reports Redis commands (INFO commandstats of the private server, the engine's adds included, the
 * same for both) and this process's CPU (the emulator's share included, the same for both).
 * Options: --requests N (default 2000), --concurrency N (default 10, the bot's default), --rounds N
 * (default 4).
 * Each request goes to a channel of its own: Slack's per-channel pace (a message a second, which the
 * gate keeps to) is not what this measures; bench:ratelimit does.
 */
import { generateKeyPairSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import { WebClient } from '@slack/web-api';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createApproval } from '../src/domain/approval.js';
import { renderRequestCard } from '../src/views/cards.js';
import { approvalIdOf, parseRequest } from '../src/domain/contract.js';
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
import { validRequest } from '../sandbox/valid-request.js';
import { commandCount, minMedianMax } from './processes.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '10' }, rounds: { type: 'string', default: '4' } } });
const COUNT = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const TOKEN = 'xoxb-bench';
const CHANNEL = 'C0APPROVALS';

// The baseline's cards, rendered before the clock starts: it does no validation, state or rendering.
const prerendered = new Map<string, ReturnType<typeof renderRequestCard>>();

interface Result {
  name: string;
  cardsPerSec: number;
  p50: number;
  p99: number;
  commandsPerRequest: number;
  cpuMsPerRequest: number;
}

const redisServer = await startRedisServer();
const emulator = await new SlackEmulator({ botToken: TOKEN, channels: [{ id: CHANNEL, name: 'approvals', botIsMember: true }] }).start();
let channels = 0;
/** A new channel the bot is in, for one request. */
function newChannel(): string {
  channels += 1;
  const id = `C0BENCH${channels}`;
  emulator.addChannel({ id, name: `bench-${channels}`, botIsMember: true });
  return id;
}
const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
const slack = new WebClient(TOKEN, { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, timeout: 10_000 });
const log = createLogger('silent');
// An ephemeral key: the bench signs decisions as the bot does.
const signingKey = { keyId: 'bench', privateKey: generateKeyPairSync('ed25519').privateKey };

try {
  // Warm up both paths (JIT, connections, script loading), then alternate them so neither
  // always runs on a warmer or a more tired machine.
  await measure('warm-up baseline', 200, startBaseline);
  await measure('warm-up gate', 200, startGate);
  const baselines: Result[] = [];
  const gates: Result[] = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const runBaseline = async () => baselines.push(await measure(`baseline, round ${round}`, COUNT, startBaseline));
    const runGate = async () => gates.push(await measure(`gate, round ${round}`, COUNT, startGate));
    if (round % 2 === 1) await runBaseline().then(runGate);
    else await runGate().then(runBaseline);
  }
  printTable([...baselines, ...gates]);
  const ratios = (pick: (r: Result) => number) => minMedianMax(gates.map((g, i) => pick(g) / pick(baselines[i]!)));
  console.log(`\nratio gate / baseline, per round (min / median / max over ${ROUNDS} rounds):`);
  console.log(`  throughput ${ratios((r) => r.cardsPerSec)}×   p50 latency ${ratios((r) => r.p50)}×   p99 latency ${ratios((r) => r.p99)}×`);
  console.log(`  Redis commands per request: baseline ${minMedianMax(baselines.map((r) => r.commandsPerRequest))}, gate ${minMedianMax(gates.map((r) => r.commandsPerRequest))}`);
  console.log(`  CPU ms per request: baseline ${minMedianMax(baselines.map((r) => r.cpuMsPerRequest))}, gate ${minMedianMax(gates.map((r) => r.cpuMsPerRequest))}`);
} finally {
  redis.disconnect();
  await emulator.stop();
  await redisServer.stop();
}

/** The product's intake worker, as main.ts wires it. */
function startGate(queue: string): Worker {
  const store = createStore(redis, { prefix: `bench-${queue}`, audit: { key: `bench-${queue}:audit`, maxLen: 100_000 }, retentionSec: 3600, leaseMs: 10_000 });
  const notices = createRequesterNotices({ slack, store, log });
  const turns = createSendTurns(redis, { prefix: `bench-${queue}` });
  const outbox = createOutbox({ connection: redis, queueName: `${queue}-resume`, queuePrefix: 'bull', retentionSec: 3600, signingKey, store, slack, turns, onSettled: (record) => notices.ended(record), log });
  const routes = shorthandRoutes(CHANNEL, undefined);
  const policySnapshotKey = `bench-${queue}:policy`;
  const own = { botId: emulator.botId, userId: emulator.botUserId };
  const timers = createTimers({ due: createDueTimes(redis, `bench-${queue}`), routes, store, outbox, slack, own, turns, policySnapshotKey, log });
  const worker = createRequestWorker({ connection: redis, queueName: queue, queuePrefix: 'bull', concurrency: CONCURRENCY, routes, store, outbox, timers, notices, slack, own, turns, policySnapshotKey, log });
  worker.on('closed', () => void Promise.all([timers.close(), outbox.close()]));
  return worker;
}

/** The least a worker must do: post the same card for the same job. */
function startBaseline(queue: string): Worker {
  return new Worker(
    queue,
    async (job) => {
      const card = prerendered.get(job.data.run_id)!;
      await slack.chat.postMessage({ channel: job.data.channel, text: card.text, blocks: card.blocks, metadata: card.metadata });
    },
    { connection: redis, concurrency: CONCURRENCY },
  );
}

async function measure(name: string, count: number, start: (queue: string) => Worker): Promise<Result> {
  const queueName = `bench-${name.replace(/\W+/g, '-')}-${Date.now()}`;
  const queue = new Queue(queueName, { connection: redis });
  const worker = start(queueName);
  await worker.waitUntilReady();
  const enqueuedAt = new Map<string, number>();
  const jobs = Array.from({ length: count }, () => {
    const request = validRequest({ channel: newChannel() });
    const parsed = parseRequest(request);
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    prerendered.set(parsed.request.run_id, renderRequestCard(createApproval(parsed.request, Date.now())));
    return { request, id: approvalIdOf(parsed.request) };
  });
  const firstMessage = emulator.messagesIn().length;
  const commandsBefore = await commandCount(redis);
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  for (let i = 0; i < jobs.length; i += 100) {
    const batch = jobs.slice(i, i + 100);
    const now = Date.now();
    for (const job of batch) enqueuedAt.set(job.id, now);
    await queue.addBulk(batch.map((job) => ({ name: 'request', data: job.request })));
  }
  while (emulator.messagesIn().length - firstMessage < count) await new Promise((resolve) => setTimeout(resolve, 20));
  const elapsedSec = (performance.now() - startedAt) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const commands = (await commandCount(redis)) - commandsBefore - 1;
  const latencies = emulator
    .messagesIn()
    .slice(firstMessage)
    .map((message) => Number(message.ts) * 1000 - enqueuedAt.get(String(message.metadata?.event_payload.approval_id))!)
    .sort((a, b) => a - b);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return {
    name,
    cardsPerSec: count / elapsedSec,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    commandsPerRequest: commands / count,
    cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / count,
  };
}



function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function printTable(results: Result[]): void {
  console.log(`\n${COUNT} requests, concurrency ${CONCURRENCY}, enqueued in batches of 100 (latency: enqueue → card in the emulator)\n`);
  console.log(['', 'cards/s', 'p50 ms', 'p99 ms', 'cmds/req', 'CPU ms/req'].map((h, i) => (i === 0 ? h.padEnd(30) : h.padStart(11))).join(''));
  for (const r of results) {
    const cells = [r.cardsPerSec.toFixed(0), r.p50.toFixed(1), r.p99.toFixed(1), r.commandsPerRequest.toFixed(1), r.cpuMsPerRequest.toFixed(2)];
    console.log(r.name.padEnd(30) + cells.map((v) => v.padStart(11)).join(''));
  }
}
