import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { callInTurn, createSendTurns, TurnLaterError } from '../../src/store/send-turns.js';
import { postMessagePace } from '../../src/ops/slack-pace.js';
import { SWEEP_EVERY_MS, turnRetryDelayMs } from '../../src/intake/timers.js';
import { createLogger } from '../../src/ops/logger.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// What remind() and escalate() give callInTurn (timer-actions.ts TURN_MAX_WAIT_MS).
const TIMER_MAX_WAIT_MS = 30_000;

describe('a reminder or escalation in a busy channel', () => {
  it('keeps its place in the channel’s turns between its tries, so a channel that stays busy cannot starve it', async () => {
    // The bot's own leases (defaults), as main.ts creates them.
    const turns = createSendTurns(redis, { prefix: `timer-turns-${randomBytes(4).toString('hex')}` });
    const channel = postMessagePace('C0BUSY');
    const log = createLogger('silent');
    // 40 cards queued in the channel (about 42 s of turns), their jobs coming back every 5 s as request jobs do.
    const cards = Array.from({ length: 40 }, (_, i) => `card-${i}`);
    const keepCards = async () => {
      for (const card of cards) if ((await turns.take(channel, card, 1500)) === 0) await turns.drop(channel, card);
    };
    await keepCards();

    // The reminder's first try: its turn is further off than it waits, so the timer comes back as timers.ts sets it.
    const first = await callInTurn(turns, channel, 'remind:ap1', { maxWaitMs: TIMER_MAX_WAIT_MS, log }, async () => 'posted').catch((err: unknown) => err);
    expect(first).toBeInstanceOf(TurnLaterError);
    const firstWait = (first as TurnLaterError).waitMs;

    // Meanwhile the cards' jobs keep their turns (they come back within the turns' renewal).
    const comeBack = turnRetryDelayMs(firstWait, turns.renewMs) + SWEEP_EVERY_MS;
    for (let waited = 0; waited < comeBack; waited += 4000) {
      await sleep(Math.min(4000, comeBack - waited));
      await keepCards();
    }

    // The next try: the same turn, nearer by the time waited (not a new one at the back of the channel).
    const again = await turns.take(channel, 'remind:ap1', TIMER_MAX_WAIT_MS);
    expect(again).toBeLessThan(firstWait - comeBack + 2000);
  }, 40_000);
});
