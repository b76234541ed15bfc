import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { callInTurn, createSendTurns, type SendTurns } from '../../src/store/send-turns.js';
import { postMessagePace } from '../../src/ops/slack-pace.js';
import { createLogger } from '../../src/ops/logger.js';

/**
 * Retry-After comes from the network (Slack, or a proxy in between): a value beyond reason must not
 * stop a channel for good.
 */

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());

let turns: SendTurns;
let prefix: string;
beforeEach(() => {
  prefix = `turns-ra-${randomBytes(4).toString('hex')}`;
  turns = createSendTurns(redis, { prefix });
});

const log = createLogger('silent');
const channel = postMessagePace('C0FLOODED');
/** A 429 as @slack/web-api throws it, with Slack's Retry-After (s). */
const rateLimited = (retryAfter: number) => Object.assign(new Error('rate limited'), { code: 'slack_webapi_rate_limited_error', retryAfter });
const ONE_HOUR_MS = 3600_000;
// A turn this near (ms) is waited for in process, as a request job waits.
const WAIT = 1500;

async function answer429(retryAfter: number): Promise<unknown> {
  return callInTurn(turns, channel, 'first', { maxWaitMs: 0, log }, () => Promise.reject(rateLimited(retryAfter))).catch((err: unknown) => err);
}

describe('send turns under a Retry-After beyond reason', () => {
  it('a Retry-After of a billion seconds does not hold the channel for decades', async () => {
    await answer429(1e9);
    const waitMs = await turns.take(channel, 'next card', WAIT);
    expect(waitMs).toBeLessThan(ONE_HOUR_MS);
  });

  it('a Retry-After of 1e300 seconds does not make every later turn in the channel fail', async () => {
    const thrown = (await answer429(1e300)) as { code?: string; message: string };
    const next = await turns.take(channel, 'next card', WAIT).catch((err: unknown) => (err as Error).message);
    // The caller sees Slack's 429 (not a Redis error), and the next card gets a turn.
    expect({ thrown: thrown.code ?? thrown.message, next: typeof next === 'number' ? 'a turn' : next }).toEqual({ thrown: 'slack_webapi_rate_limited_error', next: 'a turn' });
  });

  it('a hold asked of Redis beyond reason is bounded, in whole ms, and the channel keeps a TTL', async () => {
    await turns.hold(channel, 1e303);
    const waitMs = await turns.take(channel, 'next card', WAIT);
    const keys = await redis.keys(`${prefix}:pace:*`);
    const ttls = await Promise.all(keys.map((key) => redis.pttl(key)));
    expect({ bounded: waitMs <= 15 * 60_000, keys: keys.length, ttlsSet: ttls.every((ttl) => ttl > 0) }).toEqual({ bounded: true, keys: 1, ttlsSet: true });
  });

  it('a hold asked of Redis for a Retry-After that is not a number holds nothing and leaves the channel usable', async () => {
    await turns.hold(channel, Number.NaN);
    expect(await turns.take(channel, 'next card', WAIT)).toBe(0);
  });
});
