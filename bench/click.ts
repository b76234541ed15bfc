/**
 * npm run bench:click — click → decision on the resume queue, for 1,000 sequential clicks and for
 * bursts of 50 concurrent clicks, next to a baseline measured in the same run: a bare Bolt app that
 * acks and does one Redis write per click (bench/click-baseline.ts).
 *
 * Both apps run as processes of their own against a private redis-server and the Slack emulator,
 * which signs every click as Slack does. Latency: the click sent → the decision job added (its
 * BullMQ timestamp), or → the baseline's write.
 * Options: --clicks N (default 1000), --bursts N (default 10).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ACTION_APPROVE, parseButtonValue } from '../src/views/cards.js';
import type { EmulatedMessage } from '../sandbox/slack-emulator.js';
import { freePort } from '../sandbox/free-port.js';
import { startRedisServer } from '../sandbox/redis-server.js';
import { SlackEmulator } from '../sandbox/slack-emulator.js';
import { validRequest } from '../sandbox/valid-request.js';

const { values } = parseArgs({ options: { clicks: { type: 'string', default: '1000' }, bursts: { type: 'string', default: '10' } } });
const SEQUENTIAL = Number(values.clicks);
const BURSTS = Number(values.bursts);
const BURST_SIZE = 50;
const TOKEN = 'xoxb-bench';
const SECRET = 'bench-signing-secret-0123456789';
const CHANNEL = 'C0APPROVALS';
const SNAPSHOT = 'abcdef0123456789';

interface Timing {
  sentAt: Map<string, number>;
  ackMs: number[];
}

execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
const redisServer = await startRedisServer();
const emulator = await new SlackEmulator({ botToken: TOKEN, signingSecret: SECRET, channels: [{ id: CHANNEL, name: 'approvals', botIsMember: true }] }).start();
let channels = 0;
const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
const children: ChildProcess[] = [];

try {
  const env = { REDIS_URL: redisServer.url, SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: emulator.apiUrl, APPROVALS_CHANNEL: CHANNEL, APPROVERS: 'anyone', LOG_LEVEL: 'info' };
  const gateArgs = ['dist/main.js'];
  const gateReady = (line: string) => line.includes('approval gate started');
  // The cards, posted by the real bot; the baseline only reads their buttons, so both rounds use them.
  let gate = await spawnUntil(gateArgs, env, gateReady);
  const cards = await postCards(SEQUENTIAL + BURSTS * BURST_SIZE);
  await redis.set('approvals:policy-snapshot', SNAPSHOT);
  gate.child.kill('SIGTERM');

  const rows: [string, number[], number[]][] = [];
  const baseline = await spawnUntil(['--import', 'tsx', 'bench/click-baseline.ts'], env, (line) => line.includes('baseline ready'));
  emulator.connectApp(baseline.url);
  await round('baseline: bare Bolt app, ack + one Redis write', cards, baselineLatencies, rows);
  baseline.child.kill('SIGTERM');

  gate = await spawnUntil(gateArgs, env, gateReady);
  emulator.connectApp(gate.url);
  await round('approval gate: verify, decide, record, resume', cards, gateLatencies, rows);
  print(rows);
} finally {
  for (const child of children) child.kill('SIGKILL');
  redis.disconnect();
  await emulator.stop();
  await redisServer.stop();
}

async function round(name: string, cards: EmulatedMessage[], latencyOf: (timing: Timing) => Promise<number[]>, rows: [string, number[], number[]][]) {
  const sequential = await clickAll(cards.slice(0, SEQUENTIAL), 1);
  rows.push([`${name}, sequential`, await latencyOf(sequential), sequential.ackMs]);
  const bursts = await clickAll(cards.slice(SEQUENTIAL), BURST_SIZE);
  rows.push([`${name}, bursts of ${BURST_SIZE}`, await latencyOf(bursts), bursts.ackMs]);
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

/** Starts a process on a free port and waits for its ready line. */
async function spawnUntil(args: string[], env: Record<string, string>, ready: (line: string) => boolean): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (!ready(line)) return;
      // From here on its output is only drained, so that logging costs the bench nothing.
      lines.close();
      child.stdout!.resume();
      resolve();
    });
  });
  return { child, url: `http://127.0.0.1:${port}/slack/events` };
}

/** Clicks Approve on every card, `concurrency` at a time, as alice. */
async function clickAll(cards: EmulatedMessage[], concurrency: number): Promise<Timing> {
  const timing: Timing = { sentAt: new Map(), ackMs: [] };
  for (let i = 0; i < cards.length; i += concurrency) {
    await Promise.all(
      cards.slice(i, i + concurrency).map(async (card) => {
        const payload = emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
        const approvalId = parseButtonValue((payload.actions as { value: string }[])[0]!.value)!.approvalId;
        timing.sentAt.set(approvalId, Date.now());
        const response = await emulator.sendToApp(payload);
        if (response.status !== 200) throw new Error(`click answered ${response.status}`);
        timing.ackMs.push(response.elapsedMs);
      }),
    );
  }
  return timing;
}

async function baselineLatencies(timing: Timing): Promise<number[]> {
  const ids = [...timing.sentAt.keys()];
  const written = await waitForAll(async () => redis.mget(ids.map((id) => `baseline:click:${id}`)));
  return ids.map((id, i) => Number(written[i]) - timing.sentAt.get(id)!);
}

async function gateLatencies(timing: Timing): Promise<number[]> {
  const resume = new Queue('approval-resume', { connection: redis });
  const ids = [...timing.sentAt.keys()];
  const jobs = await waitForAll(async () => Promise.all(ids.map(async (id) => (await resume.getJob(`decision-${id}`))?.timestamp)));
  await resume.close();
  return ids.map((id, i) => jobs[i]! - timing.sentAt.get(id)!);
}

async function waitForAll<T>(read: () => Promise<(T | null | undefined)[]>): Promise<T[]> {
  for (let tries = 0; tries < 600; tries += 1) {
    const values = await read();
    if (values.every((v) => v !== null && v !== undefined)) return values as T[];
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('not every click reached Redis within 30 s');
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function print(rows: [string, number[], number[]][]): void {
  console.log(`\n${SEQUENTIAL} sequential clicks and ${BURSTS} bursts of ${BURST_SIZE} concurrent clicks, each on its own card\n`);
  console.log(['', 'p50 ms', 'p99 ms', 'ack p99'].map((h, i) => (i === 0 ? h.padEnd(64) : h.padStart(9))).join(''));
  for (const [name, latencies, acks] of rows) {
    console.log(name.padEnd(64) + [percentile(latencies, 0.5), percentile(latencies, 0.99), percentile(acks, 0.99)].map((v) => v.toFixed(1).padStart(9)).join(''));
  }
  const ratio = (i: number, p: number) => (percentile(rows[i + 2]![1], p) / percentile(rows[i]![1], p)).toFixed(2);
  console.log(`\nratio gate/baseline — sequential: p50 ${ratio(0, 0.5)}×, p99 ${ratio(0, 0.99)}×; bursts: p50 ${ratio(1, 0.5)}×, p99 ${ratio(1, 0.99)}×`);
}
