import { randomBytes } from 'node:crypto';
import { Queue, type Job } from 'bullmq';
import { afterEach, inject } from 'vitest';
import { Redis } from 'ioredis';
import type { RedisClient } from '../../src/ops/redis-connection.js';
import { CARD_EVENT_TYPE } from '../../src/views/cards.js';
import { approvalIdOf, type Decision } from '../../src/domain/contract.js';
import { SlackEmulator, type EmulatedChannel, type EmulatedMessage, type EmulatorOptions } from '../../sandbox/slack-emulator.js';
import { startRedisServer, type RedisServer } from '../../sandbox/redis-server.js';
import { startBot, type BotProcess } from './bot-process.js';
import { freePort } from '../../sandbox/free-port.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { waitFor } from './wait.js';

export const BOT_TOKEN = 'xoxb-test-token';
export const SIGNING_SECRET = 'test-signing-secret-0123456789';
export const APPROVALS_CHANNEL = 'C0APPROVALS';
/** The snapshot validRequest binds requests to; gates start with it in force. */
export const POLICY_SNAPSHOT = '7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c';

export interface Gate {
  emulator: SlackEmulator;
  requests: Queue;
  /** The resume queue, as the engine sees it. */
  resume: Queue;
  redis: RedisClient;
  env: Record<string, string>;
  bot: BotProcess;
  /** Starts another bot process with the same settings (after a kill, or as a second replica with its own PORT). */
  startAnother(overrides?: Record<string, string>): Promise<BotProcess>;
  /** Waits until the job is completed or failed, and returns it as it is then. */
  finished(job: Job, timeoutMs?: number): Promise<Job>;
  /** The cards in the emulator for a request's approval (a superseded one included). */
  cardsFor(request: Record<string, unknown>): EmulatedMessage[];
  /** Enqueues a valid request (see validRequest) and returns it with the card its job reports. */
  post(overrides?: Record<string, unknown>): Promise<{ request: Record<string, unknown>; card: EmulatedMessage }>;
  /** Every decision on the resume queue, as the engine receives them. */
  decisions(): Promise<Decision[]>;
  close(): Promise<void>;
}

/**
 * A running gate for one test: the Slack emulator, a bot process started as `npm start` starts
 * it, and a BullMQ producer, with queue names and key prefix of its own.
 */
export async function startGate(
  redisUrl: string,
  options: { channels?: EmulatedChannel[]; env?: Record<string, string>; channelRateLimit?: EmulatorOptions['channelRateLimit']; connect?: () => RedisClient } = {},
): Promise<Gate> {
  const emulator = await new SlackEmulator({
    botToken: BOT_TOKEN,
    signingSecret: SIGNING_SECRET,
    ...(options.channelRateLimit ? { channelRateLimit: options.channelRateLimit } : {}),
    // A gate started with SLACK_APP_TOKEN runs in Socket Mode: the emulator accepts that token.
    ...(options.env?.SLACK_APP_TOKEN ? { appToken: options.env.SLACK_APP_TOKEN } : {}),
    channels: options.channels ?? [
      { id: APPROVALS_CHANNEL, name: 'approvals', botIsMember: true },
      { id: 'C0INCIDENT42', name: 'incident-42', botIsMember: true },
      { id: 'C0PRIVATE', name: 'private', botIsMember: false },
      { id: 'C0SECURITY', name: 'security-approvals', botIsMember: true },
      { id: 'C0PRODAPPROVALS', name: 'prod-approvals', botIsMember: true },
    ],
  }).start();
  emulator.setUserGroup('S0ONCALL', ['U0ALICE', 'U0BOB']);
  emulator.setUserGroup('S0SECURITY', ['U0ALICE', 'U0BOB', 'U0CAROL']);
  const tag = randomBytes(4).toString('hex');
  const env: Record<string, string> = {
    REDIS_URL: redisUrl,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: emulator.apiUrl,
    PORT: String(await freePort()),
    APPROVALS_CHANNEL,
    REQUEST_QUEUE: `requests-${tag}`,
    RESUME_QUEUE: `resume-${tag}`,
    STATE_PREFIX: `approvals-${tag}`,
    POLICY_SNAPSHOT_KEY: `policy-${tag}`,
    LOG_LEVEL: 'debug',
    // Without a routes file, who may decide must be said; tests that need approvers set them.
    ...(options.env?.APPROVALS_CONFIG ? {} : { APPROVERS: 'anyone' }),
    ...options.env,
  };
  // The engine's connection: to redisUrl, or as the test says (through Sentinel, say).
  const redis = options.connect?.() ?? new Redis(redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined); // tests that restart Redis expect the producer to reconnect
  const requests = new Queue(env.REQUEST_QUEUE!, { connection: redis, prefix: env.QUEUE_PREFIX ?? 'bull' });
  requests.on('error', () => undefined);
  const resume = new Queue(env.RESUME_QUEUE!, { connection: redis, prefix: env.QUEUE_PREFIX ?? 'bull' });
  resume.on('error', () => undefined);
  emulator.connectApp(`http://127.0.0.1:${env.PORT}/slack/events`);
  const bots: BotProcess[] = [];
  const startAnother = async (overrides: Record<string, string> = {}) => {
    const bot = startBot({ ...env, ...overrides });
    bots.push(bot);
    await bot.waitForLog((line) => line.msg === 'approval gate started');
    return bot;
  };
  await redis.set(env.POLICY_SNAPSHOT_KEY!, POLICY_SNAPSHOT);
  const bot = await startAnother();
  const gate: Gate = {
    emulator,
    requests,
    resume,
    redis,
    env,
    bot,
    startAnother,
    finished: (job, timeoutMs) =>
      waitFor(
        `job ${job.id} to finish`,
        async () => {
          // State first: a job read before it finishes would carry no returnvalue.
          const state = await requests.getJobState(job.id!);
          return state === 'completed' || state === 'failed' ? requests.getJob(job.id!) : undefined;
        },
        timeoutMs,
      ),
    async post(overrides = {}) {
      const request = validRequest(overrides);
      const job = await gate.finished(await requests.add('request', request));
      if (!job.returnvalue?.ts) throw new Error(`no card for the request: ${job.failedReason ?? JSON.stringify(job.returnvalue)}`);
      const { channel, ts } = job.returnvalue as { channel: string; ts: string };
      return { request, card: emulator.messagesIn(channel).find((m) => m.ts === ts)! };
    },
    async decisions() {
      return (await resume.getJobs(['wait', 'active', 'completed', 'failed', 'delayed'])).map((job) => job.data as Decision);
    },
    cardsFor(request) {
      const id = approvalIdOf(request as { run_id: string; step_id: string });
      return emulator.messagesIn().filter((m) => m.bot_id === emulator.botId && m.metadata?.event_type === CARD_EVENT_TYPE && m.metadata.event_payload.approval_id === id);
    },
    async close() {
      await Promise.all(bots.map((b) => b.kill()));
      await requests.obliterate({ force: true }).catch(() => undefined);
      await requests.close();
      await resume.obliterate({ force: true }).catch(() => undefined);
      await resume.close();
      redis.disconnect();
      await emulator.stop();
    },
  };
  return gate;
}

/**
 * What the tests of one file start: gates, private redis-servers and bot processes, each stopped
 * after the test that started it (the last started first).
 */
export function useGates() {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return {
    async open(options?: Parameters<typeof startGate>[1], redisUrl: string = inject('redisUrl')): Promise<Gate> {
      const gate = await startGate(redisUrl, options);
      cleanups.push(() => gate.close());
      return gate;
    },
    async redisServer(options?: Parameters<typeof startRedisServer>[0]): Promise<RedisServer> {
      const server = await startRedisServer(options);
      cleanups.push(() => server.stop());
      return server;
    },
    bot(env: Record<string, string>): BotProcess {
      const bot = startBot(env);
      cleanups.push(() => bot.kill());
      return bot;
    },
  };
}
