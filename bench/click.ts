/**
 * npm run bench:click — click → decision on the resume queue, next to a baseline measured in the
 * same run: a bare Bolt app that acks and does one Redis write per click (bench/click-baseline.ts).
 *
 * Both apps run as processes of their own, side by side for the whole run, against a private
 * redis-server and the Slack emulator, which signs every click as Slack does. Both are warmed up,
 * then measured in alternated rounds (odd rounds baseline first, even rounds gate first), each
 * round in three modes:
 * - sequential, ack-paced: the next click is sent when the previous one is acknowledged;
 * - sequential, decision-paced: the next click is sent when the previous decision is on the resume
 *   queue (for the baseline: when its write is in Redis);
 * - bursts of 50 concurrent clicks.
 * Clicks come from `--users` different people, so the gate pays for `users.info` as in real use.
 * Latency: the click sent → the decision job added (its BullMQ timestamp), or → the baseline's
 * write. Per click it also reports the app's Redis commands (INFO commandstats on the private
 * server, less the app's idle rate and the bench's own reads) and CPU (from /proc, user + system).
 * Options: --clicks N sequential clicks per mode and round (default 300), --bursts N (default 6),
 * --rounds N (default 3), --users N (default 50).
 */
import { generateKeyPairSync } from 'node:crypto';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ACTION_APPROVE, parseButtonValue } from '../src/views/cards.js';
import type { EmulatedMessage } from '../sandbox/slack-emulator.js';
import { startRedisServer } from '../sandbox/redis-server.js';
import { SlackEmulator } from '../sandbox/slack-emulator.js';
import { validRequest } from '../sandbox/valid-request.js';
import { commandCount, cpuMs, minMedianMax, spawnUntil } from './processes.js';

const { values } = parseArgs({
  options: {
    clicks: { type: 'string', default: '300' },
    bursts: { type: 'string', default: '6' },
    rounds: { type: 'string', default: '3' },
    users: { type: 'string', default: '50' },
  },
});
const SEQUENTIAL = Number(values.clicks);
const BURSTS = Number(values.bursts);
const ROUNDS = Number(values.rounds);
const USERS = Number(values.users);
const BURST_SIZE = 50;
const WARM_UP = 100;
const TOKEN = 'xoxb-bench';
const SECRET = 'bench-signing-secret-0123456789';
const CHANNEL = 'C0APPROVALS';
const SNAPSHOT = 'abcdef0123456789';

type Mode = 'sequential, ack-paced' | 'sequential, decision-paced' | `bursts of ${number}`;
type AppName = 'baseline' | 'gate';

interface App {
  name: AppName;
  child: ChildProcess;
  url: string;
  /** Reads when each click's outcome reached Redis (ms since the epoch), in the order given. */
  outcomes(ids: string[]): Promise<(number | undefined)[]>;
}

interface Segment {
  latencies: number[];
  acks: number[];
  commandsPerClick: number;
  cpuMsPerClick: number;
}

const MODES: Mode[] = ['sequential, ack-paced', 'sequential, decision-paced', `bursts of ${BURST_SIZE}`];
const users = Array.from({ length: USERS }, (_, i) => ({ id: `U0BENCH${String(i).padStart(4, '0')}`, username: `reviewer${i}`, team_id: 'T0SANDBOX' }));

execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
// An ephemeral key: the bot refuses to start without one.
const signingKeyPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const redisServer = await startRedisServer();
const emulator = await new SlackEmulator({ botToken: TOKEN, signingSecret: SECRET, users, channels: [{ id: CHANNEL, name: 'approvals', botIsMember: true }] }).start();
let channels = 0;
const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
const resume = new Queue('approval-resume', { connection: redis });
const children: ChildProcess[] = [];
const clicks = new Map<string, { payload: Record<string, unknown>; approvalId: string }>();
// Commands the bench itself sends between two INFO snapshots, subtracted from the app's count.
let ownCommands = 0;
// Commands per second both apps send while nobody clicks (BullMQ's blocking reads, timers, drains):
// both run for the whole bench, so this is subtracted from every segment.
let idleCommandsPerSec = 0;

try {
  const env = { REDIS_URL: redisServer.url, SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: emulator.apiUrl, APPROVALS_CHANNEL: CHANNEL, APPROVERS: 'anyone', LOG_LEVEL: 'info', DECISION_SIGNING_KEY: signingKeyPem };
  const gateProcess = await spawnUntil(['dist/main.js'], env, (line) => line.includes('approval gate started'));
  children.push(gateProcess.child);
  const perRound = 2 * SEQUENTIAL + BURSTS * BURST_SIZE;
  const cards = await postCards(WARM_UP + ROUNDS * perRound);
  for (const card of cards) clickOf(card);
  await redis.set('approvals:policy-snapshot', SNAPSHOT);
  const baselineProcess = await spawnUntil(['--import', 'tsx', 'bench/click-baseline.ts'], env, (line) => line.includes('baseline ready'));
  children.push(baselineProcess.child);
  const gate: App = { name: 'gate', ...gateProcess, outcomes: gateOutcomes };
  const baseline: App = { name: 'baseline', ...baselineProcess, outcomes: baselineOutcomes };

  // Warm-up: JIT, connections, scripts loaded, users.info answers cached as in steady use.
  for (const app of [baseline, gate]) {
    emulator.connectApp(app.url);
    await runMode(app, 'sequential, ack-paced', app.name === 'gate' ? cards.slice(WARM_UP / 2, WARM_UP) : cards.slice(0, WARM_UP / 2));
  }
  idleCommandsPerSec = await idleCommandRate();

  const results = new Map<string, Segment[]>();
  for (let round = 0; round < ROUNDS; round += 1) {
    const roundCards = cards.slice(WARM_UP + round * perRound, WARM_UP + (round + 1) * perRound);
    for (const app of round % 2 === 0 ? [baseline, gate] : [gate, baseline]) {
      emulator.connectApp(app.url);
      let next = 0;
      for (const mode of MODES) {
        const count = mode.startsWith('bursts') ? BURSTS * BURST_SIZE : SEQUENTIAL;
        const segment = await runMode(app, mode, roundCards.slice(next, next + count));
        next += count;
        results.set(`${app.name}|${mode}`, [...(results.get(`${app.name}|${mode}`) ?? []), segment]);
      }
      // The baseline reuses the gate's cards: clear its writes so the next round reads fresh ones.
      if (app.name === 'baseline') await clearBaselineWrites(roundCards);
    }
  }
  print(results);
} finally {
  for (const child of children) child.kill('SIGKILL');
  await resume.close();
  redis.disconnect();
  await emulator.stop();
  await redisServer.stop();
}

/** Clicks Approve on every card in the given mode; returns latencies, acks and per-click costs. */
async function runMode(app: App, mode: Mode, cards: EmulatedMessage[]): Promise<Segment> {
  const ids = cards.map((card) => clickOf(card).approvalId);
  const commandsBefore = await commandCount(redis);
  const cpuBefore = cpuMs(app.child);
  const startedAt = Date.now();
  ownCommands = 0;
  const sentAt = new Map<string, number>();
  const acks: number[] = [];
  const click = async (card: EmulatedMessage, i: number) => {
    sentAt.set(ids[i]!, Date.now());
    const response = await emulator.sendToApp(clickOf(card).payload);
    if (response.status !== 200) throw new Error(`${app.name}: click answered ${response.status}`);
    acks.push(response.elapsedMs);
  };
  if (mode.startsWith('bursts')) {
    for (let i = 0; i < cards.length; i += BURST_SIZE) await Promise.all(cards.slice(i, i + BURST_SIZE).map((card, j) => click(card, i + j)));
  } else {
    for (const [i, card] of cards.entries()) {
      await click(card, i);
      if (mode === 'sequential, decision-paced') await waitForAll(app, [ids[i]!], 1);
    }
  }
  const reached = await waitForAll(app, ids, 20);
  const cpuSpent = cpuMs(app.child) - cpuBefore;
  const elapsedSec = (Date.now() - startedAt) / 1000;
  const commands = (await commandCount(redis)) - commandsBefore - ownCommands - 1 - idleCommandsPerSec * elapsedSec;
  return {
    latencies: ids.map((id, i) => reached[i]! - sentAt.get(id)!),
    acks,
    commandsPerClick: Math.max(0, commands) / cards.length,
    cpuMsPerClick: cpuSpent / cards.length,
  };
}

/**
 * The Approve click on a card, by one of the users in turn, built while the card still has its
 * buttons: the baseline clicks the same cards, in rounds that may come after the gate decided them.
 */
function clickOf(card: EmulatedMessage): { payload: Record<string, unknown>; approvalId: string } {
  let click = clicks.get(card.ts);
  if (!click) {
    const user = users[clicks.size % users.length]!.id;
    const payload = emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user });
    click = { payload, approvalId: parseButtonValue((payload.actions as { value: string }[])[0]!.value)!.approvalId };
    clicks.set(card.ts, click);
  }
  return click;
}

/** A new channel the bot is in. */
function newChannel(): string {
  channels += 1;
  const id = `C0CLICK${channels}`;
  emulator.addChannel({ id, name: `click-${channels}`, botIsMember: true });
  return id;
}

/**
 * Posts `count` cards through the running bot, each in a channel of its own: Slack takes about one
 * message a second per channel, which the bot keeps to, and that pace is not what this measures.
 */
async function postCards(count: number): Promise<EmulatedMessage[]> {
  const requests = new Queue('approval-requests', { connection: redis });
  const before = emulator.messagesIn().length;
  for (let i = 0; i < count; i += 100) {
    await requests.addBulk(Array.from({ length: Math.min(100, count - i) }, () => ({ name: 'request', data: validRequest({ policy_snapshot: SNAPSHOT, channel: newChannel() }) })));
  }
  while (emulator.messagesIn().length - before < count) await new Promise((resolve) => setTimeout(resolve, 50));
  await requests.close();
  return emulator.messagesIn().slice(before, before + count);
}


async function baselineOutcomes(ids: string[]): Promise<(number | undefined)[]> {
  ownCommands += 1;
  return (await redis.mget(ids.map((id) => `baseline:click:${id}`))).map((v) => (v === null ? undefined : Number(v)));
}

async function gateOutcomes(ids: string[]): Promise<(number | undefined)[]> {
  // One HGET per job, in one pipeline: the decision job's BullMQ timestamp (when it was added).
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hget(`bull:approval-resume:decision-${id}`, 'timestamp');
  ownCommands += ids.length;
  const answers = (await pipeline.exec()) ?? [];
  return answers.map(([, value]) => (typeof value === 'string' ? Number(value) : undefined));
}

async function clearBaselineWrites(cards: EmulatedMessage[]): Promise<void> {
  await redis.del(...cards.map((card) => `baseline:click:${clickOf(card).approvalId}`));
}

/** Waits until every click's outcome is in Redis, polling every `pollMs`; returns when each arrived. */
async function waitForAll(app: App, ids: string[], pollMs: number): Promise<number[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const reached = await app.outcomes(ids);
    if (reached.every((v) => v !== undefined)) return reached as number[];
    if (Date.now() > deadline) throw new Error(`${app.name}: not every click reached Redis within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}


/** Commands per second Redis runs while nobody clicks, measured over 5 s. */
async function idleCommandRate(): Promise<number> {
  const before = await commandCount(redis);
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  return ((await commandCount(redis)) - before - 1) / 5;
}


function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}


function print(results: Map<string, Segment[]>): void {
  console.log(`\n${ROUNDS} alternated rounds; per round ${SEQUENTIAL} sequential clicks in each sequential mode and ${BURSTS} bursts of ${BURST_SIZE}, from ${USERS} users, each click on its own card`);
  console.log('figures are min / median / max over the rounds\n');
  const header = ['', 'p50 ms', 'p99 ms', 'ack p99 ms', 'Redis cmds/click', 'CPU ms/click'];
  console.log(header.map((h, i) => (i === 0 ? h.padEnd(44) : h.padStart(24))).join(''));
  for (const mode of MODES) {
    for (const app of ['baseline', 'gate'] as const) {
      const segments = results.get(`${app}|${mode}`)!;
      const cells = [
        segments.map((s) => percentile(s.latencies, 0.5)),
        segments.map((s) => percentile(s.latencies, 0.99)),
        segments.map((s) => percentile(s.acks, 0.99)),
        segments.map((s) => s.commandsPerClick),
        segments.map((s) => s.cpuMsPerClick),
      ].map(minMedianMax);
      console.log(`${app === 'gate' ? 'approval gate' : 'bare Bolt + 1 write'}, ${mode}`.padEnd(44) + cells.map((c) => c.padStart(24)).join(''));
    }
  }
  console.log('\nratio gate / baseline, per round (min / median / max):');
  for (const mode of MODES) {
    const gate = results.get(`gate|${mode}`)!;
    const base = results.get(`baseline|${mode}`)!;
    const ratios = (p: number) => gate.map((g, i) => percentile(g.latencies, p) / Math.max(1, percentile(base[i]!.latencies, p)));
    console.log(`  ${mode.padEnd(28)} p50 ${minMedianMax(ratios(0.5))}×   p99 ${minMedianMax(ratios(0.99))}×`);
  }
}
