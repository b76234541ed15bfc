import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE } from '../../src/views/cards.js';
import type { EmulatedMessage } from '../../sandbox/slack-emulator.js';
import { useGates } from '../helpers/gate.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();
const hasButtons = (message: EmulatedMessage) => JSON.stringify(message.blocks).includes(ACTION_APPROVE);

describe('a card that lands after its attempt gave up', () => {
  it('chat.postMessage answered after 12 s, applied (the client gives up at 10 s): in the end one card carries buttons, and the decision updates it', async () => {
    const g = await gates.open();
    // Slack carries the post out after 12 s and answers then; the bot's client has given up at 10 s.
    g.emulator.injectFaults('chat.postMessage', { delayMs: 12_000 });
    const request = validRequest();
    const job = await g.finished(await g.requests.add('request', request), 30_000);
    const { ts } = job.returnvalue as { ts: string };
    const firstCall = g.emulator.callsOf('chat.postMessage')[0]!;
    await waitFor('the slow post to land', () => Date.now() > firstCall.at + 12_500, 20_000);
    console.info(`late card: ${g.cardsFor(request).length} cards of the approval once the slow post landed`);

    const [card] = await waitFor('one card of the approval left', () => g.cardsFor(request).length === 1 && g.cardsFor(request), 60_000);
    expect(card!.ts).toBe(ts);
    expect(hasButtons(card!)).toBe(true);
    await g.emulator.click({ channel: card!.channel, ts: card!.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the decided card', () => g.cardsFor(request).every((m) => !hasButtons(m)));
    expect(g.cardsFor(request)).toHaveLength(1);
    expect((await g.decisions()).map((d) => d.decision)).toEqual(['approved']);
  }, 120_000);

  it('a 429 after an ambiguous attempt keeps the next attempt looking: it finds the late card instead of posting another', async () => {
    const g = await gates.open();
    g.emulator.injectFaults('chat.postMessage', { delayMs: 12_000 }, { status: 429, retryAfterSec: 3 });
    const request = validRequest();
    const job = await g.finished(await g.requests.add('request', request), 40_000);
    expect(job.returnvalue).toMatchObject({ outcome: 'recovered' });
    expect(g.emulator.callsOf('chat.postMessage').length).toBeLessThanOrEqual(2);
    expect(g.cardsFor(request)).toHaveLength(1);
  }, 60_000);
});
