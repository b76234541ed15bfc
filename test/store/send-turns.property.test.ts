import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createSendTurns, type SendTurns } from '../../src/store/send-turns.js';
import type { Pace } from '../../src/ops/slack-pace.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());

// A fast pace and short leases, so that slots pass, leases end and holds lift within a short run.
const pace: Pace = { scope: 'chat.postMessage:CPROP', intervalMs: 100, burst: 1 };
const LEASES = { renewMs: 200, graceMs: 50 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The scope's state and Redis TIME, read at one moment.
const READ_STATE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttls = {}
for i = 1, 4 do ttls[i] = redis.call('PTTL', KEYS[i]) end
return {now, redis.call('HGET', KEYS[1], 'hold') or '0', redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES'), redis.call('HGETALL', KEYS[4]), ttls}
`;

interface State {
  now: number;
  hold: number;
  turns: { caller: string; slot: number; order?: string }[];
  ttls: number[];
}

async function readState(prefix: string): Promise<State> {
  const keys = ['pace', 'turns', 'leases', 'order'].map((kind) => `${prefix}:${kind}:${pace.scope}`);
  const [now, hold, flat, orders, ttls] = (await redis.eval(READ_STATE, 4, ...keys)) as [number, string, string[], string[], number[]];
  const orderOf = new Map<string, string>();
  for (let i = 0; i < orders.length; i += 2) orderOf.set(orders[i]!, orders[i + 1]!);
  const turns = [];
  for (let i = 0; i < flat.length; i += 2) turns.push({ caller: flat[i]!, slot: Number(flat[i + 1]), order: orderOf.get(flat[i]!) });
  return { now, hold: Number(hold), turns, ttls };
}

// Orders here are '<ms>:<numeric id>': by ms, then by id as a number, as the scripts compare them.
const enqueuedBefore = (a: string, b: string) => {
  const [aMs, aId] = a.split(':').map(Number) as [number, number];
  const [bMs, bId] = b.split(':').map(Number) as [number, number];
  return aMs !== bMs ? aMs < bMs : aId < bId;
};

type Step =
  | { kind: 'take'; caller: number; ordered: boolean; maxWaitMs: number }
  | { kind: 'drop'; caller: number }
  | { kind: 'hold'; ms: number }
  | { kind: 'sleep'; ms: number };

const step = (withReminders: boolean): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('take' as const), caller: fc.integer({ min: 1, max: 6 }), ordered: withReminders ? fc.boolean() : fc.constant(true), maxWaitMs: fc.constantFrom(0, 1500) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), caller: fc.integer({ min: 1, max: 6 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('hold' as const), ms: fc.constantFrom(0, 1, 50, 150, 400) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('sleep' as const), ms: fc.constantFrom(0, 1, 30, 120, 300) }) },
  );

// Caller n's request was enqueued at ms 1000 + (n % 3) with job id n: orders repeat ms and need the id.
const orderOf = (caller: number) => `${1000 + (caller % 3)}:${caller}`;
const callerName = (caller: number, ordered: boolean) => (ordered ? `${caller}` : `remind:${caller}`);

async function play(turns: SendTurns, prefix: string, steps: Step[], checkOrder: boolean): Promise<void> {
  // Callers whose turn's moment has come: a hold puts such a turn first after it, whatever its order.
  const cameDue = new Set<string>();
  for (const s of steps) {
    const before = await readState(prefix);
    if (s.kind === 'take') await turns.take(pace, callerName(s.caller, s.ordered), s.maxWaitMs, s.ordered ? orderOf(s.caller) : undefined);
    else if (s.kind === 'drop') {
      await turns.drop(pace, `${s.caller}`);
      await turns.drop(pace, `remind:${s.caller}`);
    } else if (s.kind === 'hold') await turns.hold(pace, s.ms);
    else await sleep(s.ms);
    const after = await readState(prefix);
    // A hold that grew began at its end less its length: the turns whose moment had come by then went first after it.
    const heldAt = s.kind === 'hold' && after.hold !== before.hold ? after.hold - s.ms : before.now;
    for (const turn of before.turns) if (turn.slot <= heldAt) cameDue.add(turn.caller);
    const slots = after.turns.map((turn) => turn.slot);
    // No two turns closer than the pace (burst 1): two calls in one slot would be a 429.
    for (let i = 1; i < slots.length; i += 1) expect(slots[i]! - slots[i - 1]!, JSON.stringify({ s, before, after })).toBeGreaterThanOrEqual(pace.intervalMs);
    if (s.kind === 'take') {
      const taken = after.turns.find((turn) => turn.caller === callerName(s.caller, s.ordered));
      const had = before.turns.some((turn) => turn.caller === callerName(s.caller, s.ordered));
      // A new turn never gets a slot before now, nor within a hold.
      if (!had) expect(taken!.slot, JSON.stringify({ s, before, after })).toBeGreaterThanOrEqual(Math.max(before.now, before.hold));
      // A turn whose moment had come is never moved by another caller's take (its call may be in flight).
      for (const turn of before.turns.filter((t) => t.slot <= before.now && t.caller !== callerName(s.caller, s.ordered))) {
        const now = after.turns.find((t) => t.caller === turn.caller);
        if (now) expect(now.slot, JSON.stringify({ s, before, after })).toBe(turn.slot);
      }
    }
    // No turn is left within a hold still in force.
    for (const turn of after.turns.filter((t) => t.slot > after.now)) expect(turn.slot).toBeGreaterThanOrEqual(after.hold);
    for (const caller of cameDue) {
      const turn = after.turns.find((t) => t.caller === caller);
      // Gone, or taken anew after its lease ended: a turn like any other.
      if (!turn || (s.kind === 'take' && caller === callerName(s.caller, s.ordered) && turn.slot !== before.turns.find((t) => t.caller === caller)?.slot)) cameDue.delete(caller);
    }
    for (const turn of after.turns) if (turn.slot <= after.now) cameDue.add(turn.caller);
    if (checkOrder) {
      const toCome = after.turns.filter((turn) => turn.slot > after.now && !cameDue.has(turn.caller));
      for (let i = 1; i < toCome.length; i += 1) expect(enqueuedBefore(toCome[i - 1]!.order!, toCome[i]!.order!), JSON.stringify({ s, before, after })).toBe(true);
    }
    // Everything expires.
    for (const ttl of after.ttls) expect(ttl === -2 || ttl > 0, JSON.stringify(after.ttls)).toBe(true);
  }
}

describe('send turns under any sequence of takes, drops, holds and waits', () => {
  it('keep turns a pace apart, never give a new turn a slot before now or within a hold, never move a turn whose moment has come, and all expire', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step(true), { minLength: 1, maxLength: 14 }), async (steps) => {
        const prefix = `turns-prop-${randomBytes(4).toString('hex')}`;
        await play(createSendTurns(redis, { prefix, ...LEASES }), prefix, steps, false);
      }),
      { numRuns: 40 },
    );
  }, 120_000);

  it('keep the turns still to come of requests in their enqueue order (but for a turn whose moment had come, first after a hold)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step(false), { minLength: 1, maxLength: 14 }), async (steps) => {
        const prefix = `turns-prop-${randomBytes(4).toString('hex')}`;
        await play(createSendTurns(redis, { prefix, ...LEASES }), prefix, steps, true);
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
