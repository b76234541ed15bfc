import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createSendTurns, type SendTurns } from '../../src/store/send-turns.js';
import { postMessagePace, type Pace } from '../../src/ops/slack-pace.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());

let turns: SendTurns;
let prefix: string;
beforeEach(() => {
  prefix = `turns-test-${randomBytes(4).toString('hex')}`;
  turns = createSendTurns(redis, { prefix });
});

const channel = postMessagePace('C0ONE');
// Waits are measured from Redis TIME at each call, and calls take a little time: allow for it.
const SLACK = 60;

describe('send turns', () => {
  it('callers in one channel get turns a pace apart, in the order they asked; another channel is not held', async () => {
    const waits = [];
    for (const caller of ['a', 'b', 'c', 'd']) waits.push(await turns.take(channel, caller));
    waits.forEach((wait, i) => expect(wait).toBeGreaterThan(i * channel.intervalMs - SLACK));
    waits.forEach((wait, i) => expect(wait).toBeLessThanOrEqual(i * channel.intervalMs));
    expect(await turns.take(postMessagePace('C0OTHER'), 'e')).toBe(0);
  });

  it('a caller that asks again keeps its turn; after dropping it, it goes to the back', async () => {
    await turns.take(channel, 'a');
    const b = await turns.take(channel, 'b');
    await turns.take(channel, 'c');
    expect(await turns.take(channel, 'b')).toBeLessThanOrEqual(b);
    expect(await turns.take(channel, 'b')).toBeGreaterThan(b - SLACK);
    await turns.drop(channel, 'b');
    expect(await turns.take(channel, 'b')).toBeGreaterThan(3 * channel.intervalMs - SLACK);
  });

  it('a hold moves every turn back by as much, keeping their order, and holds new callers too', async () => {
    const before = [await turns.take(channel, 'a'), await turns.take(channel, 'b'), await turns.take(channel, 'c')];
    expect(await turns.hold(channel, 5000)).toBeGreaterThan(5000 - SLACK);
    const after = [await turns.take(channel, 'a'), await turns.take(channel, 'b'), await turns.take(channel, 'c')];
    after.forEach((wait, i) => expect(wait - before[i]!).toBeGreaterThan(5000 - 2 * SLACK));
    after.forEach((wait, i) => expect(wait - before[i]!).toBeLessThanOrEqual(5000 + SLACK));
    expect(await turns.take(channel, 'd')).toBeGreaterThan(after[2]! + channel.intervalMs - SLACK);
  });

  it('a second 429 within the same hold does not lengthen it again', async () => {
    await turns.take(channel, 'a');
    expect(await turns.hold(channel, 3000)).toBeGreaterThan(0);
    expect(await turns.hold(channel, 2000)).toBe(0);
    expect(await turns.take(channel, 'b')).toBeGreaterThan(3000 - SLACK);
  });

  it('a burst lets that many callers go at once after a quiet spell, then paces the rest', async () => {
    const pace: Pace = { scope: 'chat.update', intervalMs: 1000, burst: 3 };
    const waits = [];
    for (const caller of ['a', 'b', 'c', 'd', 'e']) waits.push(await turns.take(pace, caller));
    expect(waits.slice(0, 3)).toEqual([0, 0, 0]);
    expect(waits[3]).toBeGreaterThan(1000 - SLACK);
    expect(waits[4]).toBeGreaterThan(2000 - SLACK);
  });

  it('leaves nothing behind that does not expire', async () => {
    await turns.take(channel, 'a');
    await turns.hold(channel, 1000);
    const keys = await redis.keys(`${prefix}:*`);
    expect(keys.length).toBe(2);
    for (const key of keys) expect(await redis.pttl(key)).toBeGreaterThan(0);
  });
});
