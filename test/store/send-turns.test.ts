import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { callInTurn, createSendTurns, type SendTurns } from '../../src/store/send-turns.js';
import { createLogger } from '../../src/ops/logger.js';
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
// Waits are measured from Redis TIME at each call, and calls take a little time (more on a busy machine): allow for it.
const SLACK = 150;
// A turn this near (ms) is waited for in process, as a request job waits.
const WAIT = 1500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('send turns', () => {
  it('callers in one channel get turns a pace apart, in the order they asked; another channel is not held', async () => {
    const waits = [];
    for (const caller of ['a', 'b', 'c', 'd']) waits.push(await turns.take(channel, caller, WAIT));
    waits.forEach((wait, i) => expect(wait).toBeGreaterThan(i * channel.intervalMs - SLACK));
    waits.forEach((wait, i) => expect(wait).toBeLessThanOrEqual(i * channel.intervalMs));
    expect(await turns.take(postMessagePace('C0OTHER'), 'e', WAIT)).toBe(0);
  });

  it('a caller that asks again keeps its turn; after dropping it, it goes to the back', async () => {
    await turns.take(channel, 'a', WAIT);
    const b = await turns.take(channel, 'b', WAIT);
    await turns.take(channel, 'c', WAIT);
    expect(await turns.take(channel, 'b', WAIT)).toBeLessThanOrEqual(b);
    expect(await turns.take(channel, 'b', WAIT)).toBeGreaterThan(b - SLACK);
    await turns.drop(channel, 'b');
    expect(await turns.take(channel, 'b', WAIT)).toBeGreaterThan(3 * channel.intervalMs - SLACK);
  });

  it('a hold moves every turn back by as much, keeping their order, and holds new callers too', async () => {
    const before = [await turns.take(channel, 'a', WAIT), await turns.take(channel, 'b', WAIT), await turns.take(channel, 'c', WAIT)];
    expect(await turns.hold(channel, 5000)).toBeGreaterThan(5000 - SLACK);
    const after = [await turns.take(channel, 'a', WAIT), await turns.take(channel, 'b', WAIT), await turns.take(channel, 'c', WAIT)];
    after.forEach((wait, i) => expect(wait - before[i]!).toBeGreaterThan(5000 - 2 * SLACK));
    after.forEach((wait, i) => expect(wait - before[i]!).toBeLessThanOrEqual(5000 + SLACK));
    expect(await turns.take(channel, 'd', WAIT)).toBeGreaterThan(after[2]! + channel.intervalMs - SLACK);
  });

  it('after a hold, the turn whose call was in flight goes first after it, and the next one a full pace later', async () => {
    await turns.take(channel, 'in flight', WAIT);
    await turns.take(channel, 'next', WAIT);
    await sleep(500); // the call in flight is answered 429 half a second after its slot
    await turns.hold(channel, 3000);
    const [again, next] = [await turns.take(channel, 'in flight', WAIT), await turns.take(channel, 'next', WAIT)];
    expect(again).toBeGreaterThan(3000 - SLACK);
    expect(next - again).toBeGreaterThan(channel.intervalMs - SLACK);
  });

  it('a hold does not bring back the turn of a caller that died after its slot: the next turn is not put a pace behind it', async () => {
    const leased = createSendTurns(redis, { prefix, renewMs: 1000, graceMs: 200 });
    await leased.take(channel, 'died', WAIT);
    const next = await leased.take(channel, 'next', WAIT);
    await sleep(400); // died's lease (its slot + 200 ms) has passed, and nobody has taken a turn since
    await leased.hold(channel, 3000);
    expect(await leased.take(channel, 'next', WAIT)).toBeLessThanOrEqual(next - 400 + 3000 + SLACK);
  });

  it('a request enqueued earlier that takes the place of a card held in flight still waits for the hold', async () => {
    await turns.take(channel, '10', WAIT, '1000:10');
    await sleep(500); // 10's call is answered 429 half a second after its slot
    await turns.hold(channel, 3000);
    expect(await turns.take(channel, '9', WAIT, '1000:9')).toBeGreaterThan(3000 - SLACK);
    expect(await turns.take(channel, '10', WAIT, '1000:10')).toBeGreaterThan(3000 + channel.intervalMs - 2 * SLACK);
  });

  it('a second 429 within the same hold does not lengthen it again', async () => {
    await turns.take(channel, 'a', WAIT);
    expect(await turns.hold(channel, 3000)).toBeGreaterThan(0);
    expect(await turns.hold(channel, 2000)).toBe(0);
    expect(await turns.take(channel, 'b', WAIT)).toBeGreaterThan(3000 - SLACK);
  });

  it('a burst lets that many callers go at once after a quiet spell, then paces the rest', async () => {
    const pace: Pace = { scope: 'chat.update', intervalMs: 1000, burst: 3 };
    const waits = [];
    for (const caller of ['a', 'b', 'c', 'd', 'e']) waits.push(await turns.take(pace, caller, WAIT));
    expect(waits.slice(0, 3)).toEqual([0, 0, 0]);
    expect(waits[3]).toBeGreaterThan(1000 - SLACK);
    expect(waits[4]).toBeGreaterThan(2000 - SLACK);
  });

  it('leaves nothing behind that does not expire', async () => {
    await turns.take(channel, 'a', WAIT);
    await turns.take(channel, 'b', WAIT, '1000:7');
    await turns.hold(channel, 1000);
    const keys = await redis.keys(`${prefix}:*`);
    expect(keys.length).toBe(4);
    for (const key of keys) expect(await redis.pttl(key)).toBeGreaterThan(0);
  });

  it('turns of callers that never come back are reclaimed: a flood of 100 abandoned turns holds the next caller no longer than their leases, then a pace', async () => {
    const leased = createSendTurns(redis, { prefix, renewMs: 1000, graceMs: 200 });
    for (let i = 0; i < 100; i += 1) await leased.take(channel, `abandoned-${i}`, WAIT);
    const first = await leased.take(channel, 'next card', WAIT);
    expect(first).toBeGreaterThan(90 * channel.intervalMs); // behind the flood (taking 100 turns takes a moment)
    // The next card comes back after a renewal, as a delayed job does; the abandoned ones never do.
    await sleep(1300);
    const again = await leased.take(channel, 'next card', WAIT);
    expect(again).toBeLessThanOrEqual(channel.intervalMs);
  });

  it('callers that come back keep their turns in order, a pace apart, moved up past the turns reclaimed before them', async () => {
    const leased = createSendTurns(redis, { prefix, renewMs: 1000, graceMs: 200 });
    for (const caller of ['a', 'b', 'c', 'd', 'e', 'f']) await leased.take(channel, caller, WAIT);
    await sleep(700);
    const kept = [await leased.take(channel, 'c', WAIT), await leased.take(channel, 'e', WAIT)];
    expect(kept[0]).toBeGreaterThan(2 * channel.intervalMs - 700 - SLACK);
    await sleep(800); // a and b's slots have passed (their calls may have been made); d and f did not come back
    const [c, e, g] = [await leased.take(channel, 'c', WAIT), await leased.take(channel, 'e', WAIT), await leased.take(channel, 'g', WAIT)];
    // b's slot (1.05 s) still spaces c; e follows c and g follows e, a pace apart, where d and f had been.
    expect(c).toBeGreaterThan(2 * channel.intervalMs - 1500 - SLACK);
    expect(c).toBeLessThanOrEqual(2 * channel.intervalMs - 1500 + SLACK);
    expect(e - c).toBeGreaterThan(channel.intervalMs - SLACK);
    expect(e - c).toBeLessThanOrEqual(channel.intervalMs + SLACK);
    expect(g - e).toBeGreaterThan(channel.intervalMs - SLACK);
    expect(g - e).toBeLessThanOrEqual(channel.intervalMs + SLACK);
  });

  it('a request enqueued earlier whose job takes its turn later goes before the requests enqueued after it, which each move back a pace', async () => {
    await turns.take(channel, 'first', WAIT);
    const ten = await turns.take(channel, '10', WAIT, '1000:10');
    const eleven = await turns.take(channel, '11', WAIT, '1000:11');
    const nine = await turns.take(channel, '9', WAIT, '1000:9');
    expect(nine).toBeLessThanOrEqual(ten);
    expect(nine).toBeGreaterThan(ten - SLACK);
    const [tenNow, elevenNow] = [await turns.take(channel, '10', WAIT, '1000:10'), await turns.take(channel, '11', WAIT, '1000:11')];
    expect(tenNow).toBeGreaterThan(eleven - SLACK);
    expect(tenNow).toBeLessThanOrEqual(eleven);
    expect(elevenNow).toBeGreaterThan(eleven + channel.intervalMs - 2 * SLACK);
    expect(elevenNow).toBeLessThanOrEqual(eleven + channel.intervalMs);
  });

  it('a request enqueued earlier never takes the place of a turn whose moment has come, nor of a turn without an enqueue order', async () => {
    expect(await turns.take(channel, '10', WAIT, '1000:10')).toBe(0);
    const reminder = await turns.take(channel, 'remind:ap1', WAIT);
    const nine = await turns.take(channel, '9', WAIT, '1000:9');
    expect(nine).toBeGreaterThan(reminder + channel.intervalMs - SLACK);
    expect(await turns.take(channel, 'remind:ap1', WAIT)).toBeLessThanOrEqual(reminder);
  });

  it('orders the jobs of one millisecond by job id, and earlier milliseconds first', async () => {
    await turns.take(channel, 'first', WAIT);
    const orders = ['1001:2', '1000:10', '1000:9', '999:50'];
    for (const order of orders) await turns.take(channel, order, WAIT, order);
    const waits = new Map<string, number>();
    for (const order of orders) waits.set(order, await turns.take(channel, order, WAIT, order));
    const byWait = [...waits].sort((a, b) => a[1] - b[1]).map(([order]) => order);
    expect(byWait).toEqual(['999:50', '1000:9', '1000:10', '1001:2']);
  });

  it('a turn within the in-process wait is kept until its slot, and one further off until its renewal: no caller loses a turn it is waiting for', async () => {
    const leased = createSendTurns(redis, { prefix, renewMs: 1000, graceMs: 200 });
    for (const caller of ['a', 'b', 'c']) await leased.take(channel, caller, 3000);
    // c waits in process for its slot (2.1 s), past its renewal: nobody else may take that slot meanwhile.
    await sleep(1500);
    expect(await leased.take(channel, 'd', WAIT)).toBeGreaterThan(3 * channel.intervalMs - 1500 - SLACK);
  });
});

describe('a call in its turn', () => {
  // Redis failing between the call and giving up its turn (the turns' other scripts still run).
  const withFailingDrop = (real: SendTurns): SendTurns => ({ ...real, drop: () => Promise.reject(new Error('Connection is closed.')) });

  it('that went through stands when its turn cannot be given up: it is made once, and the failure is warned of', async () => {
    const lines: { level: number; msg: string; caller?: string }[] = [];
    const log = createLogger('warn', { write: (line: string) => void lines.push(JSON.parse(line)) });
    let calls = 0;
    const result = await callInTurn(withFailingDrop(turns), channel, 'remind:ap1', { maxWaitMs: WAIT, log }, async () => ++calls);
    expect(result).toBe(1);
    expect(calls).toBe(1);
    expect(lines).toMatchObject([{ level: 40, msg: 'could not give up a send turn; its lease ends it', caller: 'remind:ap1' }]);
  });

  it('waits for its turn where it is when the wait is over: a turn moved back meanwhile is not called at its old slot', async () => {
    await turns.take(channel, 'first', WAIT);
    await turns.take(channel, '10', WAIT, '1000:10');
    const started = Date.now();
    let calledAfterMs = -1;
    const call = callInTurn(turns, channel, '10', { maxWaitMs: 3000, log: createLogger('silent') }, async () => {
      calledAfterMs = Date.now() - started;
    });
    await sleep(200);
    await turns.take(channel, '9', WAIT, '1000:9'); // takes 10's place; 10 moves back a pace
    await call;
    expect(calledAfterMs).toBeGreaterThan(2 * channel.intervalMs - SLACK);
  });

  it('that failed fails with its own error, not with the failure to give up its turn', async () => {
    const log = createLogger('silent');
    const failed = callInTurn(withFailingDrop(turns), channel, 'remind:ap2', { maxWaitMs: WAIT, log }, () => Promise.reject(new Error('slack said no')));
    await expect(failed).rejects.toThrow('slack said no');
  });
});
