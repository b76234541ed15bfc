import { describe, expect, it } from 'vitest';
import type { EmulatedChannel } from '../../sandbox/slack-emulator.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { approvals } from '../helpers/approvals-command.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

/**
 * `/approvals` across many channels and kinds of conversation: it asks Slack only about the channels
 * left after its filters, remembers what it learnt for a while, honours Retry-After, answers with what
 * it could check rather than nothing, and lists DMs, group DMs and private channels only to their members.
 */

const gates = useGates();

const INCIDENT: EmulatedChannel = { id: 'C0INCIDENT42', name: 'incident-42', botIsMember: true };

async function openGate(channels: EmulatedChannel[]): Promise<Gate> {
  return gates.open({ channels: [{ id: 'C0APPROVALS', name: 'approvals', botIsMember: true }, INCIDENT, ...channels] });
}

/** One pending card in each channel, posted by the bot as an engine's requests would have it. */
async function cardsIn(g: Gate, channels: string[]): Promise<void> {
  const requests = channels.map((channel) => validRequest({ channel, risk_tags: ['network'] }));
  for (let i = 0; i < requests.length; i += 50) await g.requests.addBulk(requests.slice(i, i + 50).map((data) => ({ name: 'request', data })));
  await waitFor('the cards', () => requests.every((r) => g.cardsFor(r).length === 1), 90_000);
}

const count = (calls: { method: string }[], method: string) => calls.filter((call) => call.method === method).length;
const summary = (reply: { blocks: unknown[] }) => JSON.stringify(reply.blocks);

describe('/approvals across many channels', () => {
  it('with cards in 300 channels, `/approvals #channel` asks Slack about that one channel only', async () => {
    const many = Array.from({ length: 300 }, (_, i): EmulatedChannel => ({ id: `C0LOAD${String(i).padStart(3, '0')}`, name: `load-${i}`, botIsMember: true }));
    const g = await openGate(many);
    await cardsIn(g, many.map((c) => c.id));

    const reply = await approvals(g, 'U0ALICE', '<#C0LOAD123|load-123>');
    expect(summary(reply)).toContain('1 approval waiting in <#C0LOAD123>');
    expect(count(reply.calls, 'conversations.info')).toBeLessThanOrEqual(1);
    expect(reply.calls.length).toBeLessThanOrEqual(5);
  }, 180_000);

  it('a second /approvals within the cache time asks Slack nothing; another caller’s asks only who they are and which channels they are in', async () => {
    const g = await openGate([
      { id: 'C0PUBLIC1', name: 'public-1', botIsMember: true },
      { id: 'C0PUBLIC2', name: 'public-2', botIsMember: true },
      { id: 'C0SECRET', name: 'secret', botIsMember: true, isPrivate: true, members: ['U0ALICE', 'U0BOB'] },
    ]);
    await cardsIn(g, ['C0PUBLIC1', 'C0PUBLIC2', 'C0SECRET']);

    const first = await approvals(g, 'U0ALICE');
    expect(first.text).toBe('3 approvals waiting');
    expect(count(first.calls, 'conversations.info')).toBe(3);

    const again = await approvals(g, 'U0ALICE');
    expect(again.text).toBe('3 approvals waiting');
    expect(again.calls).toEqual([]);

    const bob = await approvals(g, 'U0BOB');
    expect(bob.text).toBe('3 approvals waiting');
    expect(bob.calls.map((call) => call.method).sort()).toEqual(['users.conversations', 'users.info']);
  }, 60_000);

  it('a 429 on one channel’s conversations.info: the others are listed, the reply says the list is partial and when to try again, and a retry waits for Retry-After', async () => {
    const g = await openGate([
      { id: 'C0ONE', name: 'one', botIsMember: true },
      { id: 'C0TWO', name: 'two', botIsMember: true },
      { id: 'C0LIMITED', name: 'limited', botIsMember: true },
    ]);
    await cardsIn(g, ['C0ONE', 'C0TWO', 'C0LIMITED']);
    g.emulator.injectFaults('conversations.info', { status: 429, retryAfterSec: 30, match: { channel: 'C0LIMITED' } });

    const reply = await approvals(g, 'U0ALICE');
    expect(summary(reply)).toContain('2 approvals waiting');
    expect(reply.text).toContain('partial');
    expect(summary(reply)).toMatch(/1 channel could not be checked.*try again in 30 s/i);

    // Within Retry-After, Slack is not asked again about that channel: the list stays partial.
    const again = await approvals(g, 'U0ALICE');
    expect(count(again.calls, 'conversations.info')).toBe(0);
    expect(summary(again)).toContain('2 approvals waiting');
    expect(summary(again)).toMatch(/1 channel could not be checked.*try again in \d+ s/i);
  }, 60_000);

  it('when Slack is slow, answers in time with what it could check', async () => {
    const g = await openGate([
      { id: 'C0ONE', name: 'one', botIsMember: true },
      { id: 'C0SLOW', name: 'slow', botIsMember: true },
    ]);
    await cardsIn(g, ['C0ONE', 'C0SLOW']);
    g.emulator.injectFaults('conversations.info', { delayMs: 25_000, match: { channel: 'C0SLOW' } });

    const started = Date.now();
    const reply = await approvals(g, 'U0ALICE', '', 25_000);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(summary(reply)).toContain('1 approval waiting');
    expect(reply.text).toContain('partial');
  }, 60_000);
});

describe('/approvals lists a card only to those who can see its conversation', () => {
  it('a card in a DM is listed only to the person the bot shares that DM with', async () => {
    const g = await openGate([]);
    const { card } = await g.post({ channel: 'D0ALICE', risk_tags: ['network'] });
    expect(card.channel).toBe('D0ALICE');

    expect((await approvals(g, 'U0ALICE')).text).toBe('1 approval waiting');
    expect((await approvals(g, 'U0BOB')).text).toBe('No approvals are waiting.');
    expect((await approvals(g, 'U0MALLORY')).text).toBe('No approvals are waiting.');
  });

  it('a group DM’s card is listed only to its members', async () => {
    const g = await openGate([{ id: 'G0MPIM', name: 'mpdm-alice--bob--approval-gate-1', botIsMember: true, isMpim: true, members: ['U0ALICE', 'U0BOB', 'U0APPROVALBOT'] }]);
    await g.post({ channel: 'G0MPIM', risk_tags: ['network'] });

    expect((await approvals(g, 'U0BOB')).text).toBe('1 approval waiting');
    expect((await approvals(g, 'U0CAROL')).text).toBe('No approvals are waiting.');
  });

  it('a private channel’s card is listed only to its members; when its members cannot be read it is left out and the list says so', async () => {
    const g = await openGate([
      { id: 'C0OPEN', name: 'open', botIsMember: true },
      { id: 'C0SECRET', name: 'secret', botIsMember: true, isPrivate: true, members: ['U0CAROL', 'U0APPROVALBOT'] },
    ]);
    await cardsIn(g, ['C0OPEN', 'C0SECRET']);

    expect((await approvals(g, 'U0CAROL')).text).toBe('2 approvals waiting');
    expect((await approvals(g, 'U0MALLORY')).text).toBe('1 approval waiting');

    g.emulator.injectFaults('users.conversations', { error: 'internal_error', match: { user: 'U0BOB' } });
    const bob = await approvals(g, 'U0BOB');
    expect(summary(bob)).toContain('1 approval waiting');
    expect(bob.text).toContain('partial');
  });

  it('a guest sees cards in public channels only where they are a member', async () => {
    const g = await openGate([
      { id: 'C0GUESTS', name: 'with-guests', botIsMember: true },
      { id: 'C0STAFF', name: 'staff-only', botIsMember: true, members: ['U0ALICE', 'U0BOB', 'U0APPROVALBOT'] },
    ]);
    g.emulator.addUser({ id: 'U0GINA', username: 'gina', team_id: g.emulator.teamId, is_restricted: true });
    await cardsIn(g, ['C0GUESTS', 'C0STAFF']);

    expect((await approvals(g, 'U0ALICE')).text).toBe('2 approvals waiting');
    const guest = await approvals(g, 'U0GINA');
    expect(guest.text).toBe('1 approval waiting');
    expect(summary(guest)).not.toContain('partial');
  });

  it('without the scope to read a kind of conversation, its cards are left out and the list says some could not be checked', async () => {
    const g = await openGate([{ id: 'G0MPIM', name: 'mpdm-alice--bob--approval-gate-1', botIsMember: true, isMpim: true, members: ['U0ALICE', 'U0BOB', 'U0APPROVALBOT'] }]);
    await cardsIn(g, ['C0APPROVALS', 'G0MPIM']);
    g.emulator.scopes.delete('mpim:read');

    const reply = await approvals(g, 'U0ALICE');
    expect(summary(reply)).toContain('1 approval waiting');
    expect(summary(reply)).toMatch(/1 channel could not be checked/);
  });
});
