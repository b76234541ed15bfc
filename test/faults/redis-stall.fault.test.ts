import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_MORE } from '../../src/views/cards.js';
import { useGates } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Redis stops answering (DEBUG SLEEP) while reviewers click: every interaction is answered within
 * Slack's 3 seconds, and a reviewer told "nothing was decided" is right, also once Redis answers again.
 */

const gates = useGates();

/** Puts the private Redis to sleep for `seconds`; returns once it sleeps, with a promise of its waking. */
async function stall(url: string, seconds: number): Promise<{ awake: Promise<unknown> }> {
  const sleeper = new Redis(url);
  await sleeper.ping(); // connected: DEBUG SLEEP goes out at once
  const awake = sleeper.call('DEBUG', 'SLEEP', String(seconds)).finally(() => sleeper.disconnect());
  await delay(200);
  // Wrapped: an async function returning a bare promise would wait for it.
  return { awake };
}

describe('a Redis stall', () => {
  it('clicks while Redis sleeps are answered within 3 s, told nothing was decided, and their late inbox entries decide nothing', async () => {
    const server = await gates.redisServer({ debugCommand: true });
    const g = await gates.open({}, server.url);
    const { card } = await g.post();
    const { awake } = await stall(server.url, 4);
    const users = ['U0ALICE', 'U0BOB', 'U0CAROL'];
    const responses = await Promise.all(users.map((user) => g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user })));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(Math.max(...responses.map((r) => r.elapsedMs))).toBeLessThan(3000);
    for (const user of users) {
      const [reply] = await waitFor(`the reply to ${user}`, () => g.emulator.ephemeralsFor(user).length > 0 && g.emulator.ephemeralsFor(user), 3000);
      expect(reply).toMatch(/nothing was decided/i);
    }
    await awake;
    // Past the inbox's claim delay: a drain has seen whatever landed late.
    await delay(9000);
    expect(await g.decisions()).toEqual([]);
    expect(JSON.stringify(g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)!.blocks)).toContain(ACTION_APPROVE);
    for (const user of users) for (const reply of g.emulator.ephemeralsFor(user)) expect(reply).toMatch(/nothing was decided/i);

    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the decision once Redis answers', async () => (await g.decisions()).length === 1, 15_000);
  }, 60_000);

  it('the overflow menu while Redis sleeps: the reviewer is told within 3 s that nothing was decided', async () => {
    const server = await gates.redisServer({ debugCommand: true });
    const g = await gates.open({}, server.url);
    const { card } = await g.post();
    const { awake } = await stall(server.url, 5);
    const started = Date.now();
    const response = await g.emulator.chooseOverflow({ channel: card.channel, ts: card.ts, actionId: ACTION_MORE, optionPrefix: 'deny', user: 'U0BOB' });
    expect(response.status).toBe(200);
    const reply = await waitFor('the reply', () => g.emulator.ephemeralsFor('U0BOB')[0], 3000);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(reply).toMatch(/nothing was decided/i);
    await awake;
    expect(g.emulator.views.opened).toEqual([]);
  }, 60_000);
});
