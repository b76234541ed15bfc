import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createInbox, type Inbox } from '../../src/store/inbox.js';
import { createRequestMemory, REMEMBER_SEC } from '../../src/store/request-memory.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());

let prefix: string;
/** Two bot processes' views of one inbox. */
let first: Inbox;
let second: Inbox;
beforeEach(() => {
  prefix = `inbox-test-${randomBytes(4).toString('hex')}`;
  first = createInbox(redis, { prefix, consumer: 'first' });
  second = createInbox(redis, { prefix, consumer: 'second' });
});

const click = { action: 'approve', user_id: 'U0ALICE' };

async function accepted(inbox: Inbox, key: string): Promise<string> {
  const result = await inbox.accept(key, click);
  if (result.kind !== 'accepted') throw new Error(result.kind);
  return result.id;
}

describe('the click inbox', () => {
  it('accepts a request once: the same request again appends nothing, from any process', async () => {
    await accepted(first, 'sig:abc');
    expect(await second.accept('sig:abc', click)).toEqual({ kind: 'replayed' });
    expect(await first.accept('sig:abc', click)).toEqual({ kind: 'replayed' });
    expect(await redis.xlen(`${prefix}:inbox`)).toBe(1);
    const ttl = await redis.ttl(`${prefix}:seen:sig:abc`);
    expect(ttl).toBeGreaterThan(REMEMBER_SEC - 5);
    expect(ttl).toBeLessThanOrEqual(REMEMBER_SEC);
  });

  it('shares its memory with the requests that are not clicks', async () => {
    const memory = createRequestMemory(redis, prefix);
    expect(await memory.remember('env:1')).toBe(true);
    expect(await memory.remember('env:1')).toBe(false);
    expect(await first.accept('env:1', click)).toEqual({ kind: 'replayed' });
  });

  it('an entry is pending for the process that accepted it; another claims it (a new delivery) only once it has been idle long enough', async () => {
    const id = await accepted(first, 'sig:1');
    expect(await first.confirm(id)).toBe(true);
    expect(await second.claimIdle(60_000, 10)).toEqual([]);
    await delay(150);
    const [claimed] = await second.claimIdle(100, 10);
    expect(claimed).toEqual({ id, fields: click, delivery: 2, state: { kind: 'confirmed' } });
    // The first delivery lost it: it can neither renew, answer nor finish it any more.
    expect(await first.renew(id, 1)).toBe(false);
    expect(await first.answer(id, 1, 'nothing was decided')).toBe(false);
    expect(await first.finish(id, 1)).toBe(false);
    expect(await second.renew(id, 2)).toBe(true);
    expect(await second.finish(id, 2)).toBe(true);
  });

  it('an entry its process never confirmed is claimed as unconfirmed, and can then no longer be confirmed, even by its own process', async () => {
    const id = await accepted(first, 'sig:2');
    await delay(150);
    // The process's own drain may be what claims it.
    const [claimed] = await first.claimIdle(100, 10);
    expect(claimed).toMatchObject({ id, delivery: 2, state: { kind: 'unconfirmed' } });
    expect(await first.confirm(id)).toBe(false);
    expect(await first.answer(id, 2, 'anything')).toBe(false);
  });

  it('an answer recorded before a process stopped is what the next delivery finds', async () => {
    const id = await accepted(first, 'sig:3');
    await first.confirm(id);
    expect(await first.answer(id, 1, ':warning: nothing was decided')).toBe(true);
    await delay(150);
    const [claimed] = await second.claimIdle(100, 10);
    expect(claimed).toMatchObject({ id, delivery: 2, state: { kind: 'answered', answer: ':warning: nothing was decided' } });
  });

  it('renewing an entry keeps it from being claimed', async () => {
    const id = await accepted(first, 'sig:4');
    await first.confirm(id);
    for (let i = 0; i < 4; i += 1) {
      await delay(60);
      expect(await first.renew(id, 1)).toBe(true);
    }
    expect(await second.claimIdle(100, 10)).toEqual([]);
  });

  it('a finished entry leaves the stream, the pending list and the states', async () => {
    const id = await accepted(first, 'sig:5');
    await first.confirm(id);
    expect(await first.finish(id, 1)).toBe(true);
    expect(await redis.xlen(`${prefix}:inbox`)).toBe(0);
    expect(await redis.hlen(`${prefix}:inbox:state`)).toBe(0);
    await delay(50);
    expect(await second.claimIdle(0, 10)).toEqual([]);
    expect(await first.renew(id, 1)).toBe(false);
  });

  it('forgets consumers of processes that ended with nothing pending, and keeps those with entries', async () => {
    const third = createInbox(redis, { prefix, consumer: 'third' });
    await accepted(first, 'sig:6');
    const id = await accepted(third, 'sig:7');
    await third.finish(id, 1);
    await delay(60);
    expect(await second.forgetIdleConsumers(50)).toBe(1);
    const consumers = (await redis.xinfo('CONSUMERS', `${prefix}:inbox`, 'clicks')) as unknown[][];
    expect(consumers.map((c) => c[1])).toEqual(['first']);
  });
});
