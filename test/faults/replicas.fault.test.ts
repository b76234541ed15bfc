import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE } from '../../src/views/cards.js';
import type { AppResponse } from '../../sandbox/interactions.js';
import type { EmulatedMessage } from '../../sandbox/slack-emulator.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { POLICY_SNAPSHOT, useGates, type Gate } from '../helpers/gate.js';
import { startReplicas } from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Three bot replicas against one Redis and one Slack: an acknowledged click is never lost, whatever
 * replica dies; one replica updates each card; a request is processed once, whichever replicas it reaches.
 */

const gates = useGates();

async function postCards(g: Gate, count: number): Promise<{ request: Record<string, unknown>; card: EmulatedMessage }[]> {
  // Each card in a channel of its own: Slack takes about one message a second per channel, which the
  // bot keeps to, and these tests are about clicks, not about that pace.
  const requests = Array.from({ length: count }, (_, i) => {
    const channel = `C0REPLICA${i}`;
    g.emulator.addChannel({ id: channel, name: `replica-${i}`, botIsMember: true });
    return validRequest({ channel });
  });
  await Promise.all(requests.map(async (request) => g.finished(await g.requests.add('request', request), 30_000)));
  return requests.map((request) => ({ request, card: g.cardsFor(request)[0]! }));
}

/** Distinct reviewers, so each click asks users.info (uncached) and its replies are its own. */
function addReviewers(g: Gate, count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const id = `U0REVIEW${String(i).padStart(3, '0')}`;
    g.emulator.addUser({ id, username: `reviewer${i}`, team_id: g.emulator.teamId });
    return id;
  });
}

/**
 * How many times the card was replaced with its outcome: by chat.update, or through a click's
 * response_url (the bot's way when its chat.update turn is some seconds off in a burst).
 */
function updatesOf(g: Gate, card: EmulatedMessage): number {
  const updates = g.emulator.callsOf('chat.update').filter((call) => call.args.channel === card.channel && call.args.ts === card.ts).length;
  const replaced = g.emulator.responses.filter((post) => post.channel === card.channel && post.messageTs === card.ts && post.body.replace_original === true).length;
  return updates + replaced;
}

describe('three replicas', () => {
  it('one killed with SIGKILL mid-burst: every click it acknowledged ends in a recorded decision or a reply, and every card is updated exactly once', async () => {
    const server = await gates.redisServer();
    const g = await gates.open({}, server.url);
    const replicas = await startReplicas(g, 3);
    const CLICKS = 45;
    const cards = await postCards(g, CLICKS);
    const reviewers = addReviewers(g, CLICKS);
    // users.info answers slowly, so acknowledged clicks are still being processed when the replica dies.
    g.emulator.injectFaults('users.info', ...Array.from({ length: CLICKS }, () => ({ delayMs: 2000 })));

    const victim = replicas[1]!;
    const clicks: { replica: number; user: string; card: EmulatedMessage; status?: number; response?: Promise<AppResponse | undefined> }[] = [];
    const ackedByVictim = () => clicks.filter((c) => c.replica === 1 && c.status === 200).length;
    for (let i = 0; i < CLICKS; i += 1) {
      const click: (typeof clicks)[number] = { replica: i % 3, user: reviewers[i]!, card: cards[i]!.card };
      click.response = g.emulator
        .click({ channel: click.card.channel, ts: click.card.ts, actionId: ACTION_APPROVE, user: click.user, url: replicas[click.replica]!.url })
        .then((r) => {
          click.status = r.status;
          return r;
        })
        .catch(() => undefined); // the killed replica refuses connections
      clicks.push(click);
      if (i === 18) {
        await waitFor('the victim to acknowledge five clicks', () => ackedByVictim() >= 5, 10_000);
        await victim.bot.kill();
      }
      await delay(40);
    }
    const responses = await Promise.all(clicks.map((c) => c.response));
    const acked = clicks.filter((_, i) => responses[i]?.status === 200);
    const ackedByKilled = acked.filter((c) => c.replica === 1);
    expect(ackedByKilled.length).toBeGreaterThanOrEqual(5);

    const decidedBy = async (user: string) => (await g.decisions()).some((d) => d.decided_by.id === user);
    const resolved = async (c: (typeof clicks)[number]) => (await decidedBy(c.user)) || g.emulator.ephemeralsFor(c.user).length > 0;
    await waitFor(
      'every acknowledged click to end in a decision or a reply',
      async () => (await Promise.all(acked.map(resolved))).every(Boolean),
      60_000,
    );
    // Card updates go at Slack's pace for chat.update (bursts of 20, then one every 1.2 s): wait for
    // them, then give late duplicates (they would come from drains) time to show.
    const decided = await g.decisions();
    const decidedCards = cards.filter(({ request }) => decided.some((d) => d.run_id === request.run_id));
    await waitFor('every decided card updated', () => decidedCards.every(({ card }) => updatesOf(g, card) >= 1), 60_000);
    await delay(7000);
    const decisions = await g.decisions();
    for (const { card, request } of cards) {
      const mine = decisions.filter((d) => d.run_id === request.run_id);
      expect(mine.length).toBeLessThanOrEqual(1);
      expect(updatesOf(g, card)).toBe(mine.length);
    }
    for (const c of ackedByKilled) expect(await resolved(c)).toBe(true);
  }, 120_000);

  it('while Slack is slow to update cards, every decided card gets exactly one chat.update', async () => {
    const server = await gates.redisServer();
    const g = await gates.open({}, server.url);
    const replicas = await startReplicas(g, 3);
    const cards = await postCards(g, 20);
    const reviewers = addReviewers(g, 20);
    // Slower than the drains' grace period: every replica's drain sees these decisions unsettled.
    g.emulator.injectFaults('chat.update', ...Array.from({ length: 20 }, () => ({ delayMs: 4000 })));
    const responses = await Promise.all(
      cards.map(({ card }, i) => g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: reviewers[i]!, url: replicas[i % 3]!.url })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    await waitFor('20 decisions', async () => (await g.decisions()).length === 20, 30_000);
    await waitFor('every card updated', () => cards.every(({ card }) => updatesOf(g, card) >= 1), 30_000);
    await delay(12_000);
    expect(cards.map(({ card }) => updatesOf(g, card))).toEqual(Array(20).fill(1));
  }, 90_000);

  it('the same signed request sent to two replicas at once is processed once', async () => {
    const server = await gates.redisServer();
    const g = await gates.open({}, server.url);
    const [a, b] = await startReplicas(g, 2);
    const { card } = (await postCards(g, 1))[0]!;
    const payload = g.emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const timestampSec = Math.floor(Date.now() / 1000);
    const responses = await Promise.all([a!, b!].map((replica) => g.emulator.sendToApp(payload, { timestampSec, url: replica.url })));
    expect(responses.map((r) => r.status).sort()).toEqual([200, 401]);
    await waitFor('the decision', async () => (await g.decisions()).length === 1);
    await delay(1500);
    expect(g.emulator.ephemeralsFor('U0ALICE')).toEqual([]);
  });

  it('a click refused on one replica, re-sent byte for byte to another after the snapshot is back, decides nothing', async () => {
    const server = await gates.redisServer();
    const g = await gates.open({}, server.url);
    const [a, b] = await startReplicas(g, 2);
    const { card } = (await postCards(g, 1))[0]!;
    await g.redis.del(g.env.POLICY_SNAPSHOT_KEY!);
    const payload = g.emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const first = await g.emulator.sendToApp(payload, { timestampSec: Math.floor(Date.now() / 1000), url: a!.url });
    await waitFor('the refusal', () => g.emulator.ephemeralsFor('U0ALICE').length === 1);
    await g.redis.set(g.env.POLICY_SNAPSHOT_KEY!, POLICY_SNAPSHOT);

    expect((await g.emulator.resend(first.sent!, b!.url)).status).toBe(401);
    await delay(1500);
    expect(await g.decisions()).toEqual([]);
    expect(JSON.stringify(g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)!.blocks)).toContain(ACTION_APPROVE);
  });
});
