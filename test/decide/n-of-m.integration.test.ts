import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE } from '../../src/views/cards.js';
import { createAudit } from '../../src/store/audit.js';
import type { EmulatedMessage } from '../../sandbox/slack-emulator.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

/**
 * N-of-M counts only approvals that still stand: when an approve would complete the approval, every
 * approval counted before it is checked again with Slack, and one whose voter left the route's user
 * group (or was deactivated) is dropped, said on the card, in its thread, to the clicker and in the audit.
 */

const gates = useGates();

/** A 2-of-2 route whose approvers are the S0ONCALL user group (Alice and Bob at the start). */
async function openGate(): Promise<Gate> {
  const file = join(mkdtempSync(join(tmpdir(), 'n-of-m-')), 'approvals.yml');
  writeFileSync(file, ['routes:', '  - name: oncall', '    channel: C0APPROVALS', '    approvers: [S0ONCALL]', '    required_approvals: 2'].join('\n'));
  return gates.open({ env: { APPROVALS_CONFIG: file, APPROVALS_CHANNEL: '' } });
}

async function approve(g: Gate, card: EmulatedMessage, user: string): Promise<string> {
  const before = g.emulator.ephemeralsFor(user).length;
  await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user });
  return waitFor(`the reply to ${user}`, () => g.emulator.ephemeralsFor(user)[before]);
}

const cardNow = (g: Gate, card: EmulatedMessage) => g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)!;

describe('N of M at completion', () => {
  it('an approval whose voter left the user group no longer counts: the card, its thread and the clicker say so', async () => {
    const g = await openGate();
    const { request, card } = await g.post();
    expect(await approve(g, card, 'U0ALICE')).toContain('Your approval is counted: 1 of 2');
    g.emulator.setUserGroup('S0ONCALL', ['U0BOB', 'U0CAROL']);

    const reply = await approve(g, card, 'U0BOB');
    expect(reply).toContain('Your approval is counted: 1 of 2');
    expect(reply).toContain('No longer counted, checked with Slack when the approval would have completed: <@U0ALICE> (no longer one of the approvers).');
    expect(await g.decisions()).toEqual([]);
    const shown = await waitFor('the card to show the dropped approval', () => JSON.stringify(cardNow(g, card).blocks).includes('No longer counted') && JSON.stringify(cardNow(g, card).blocks));
    expect(shown).toContain('*Approvals:* 1 of 2: <@U0BOB>');
    expect(shown).toContain(ACTION_APPROVE);
    const thread = await waitFor('the thread reply', () => g.emulator.messagesIn(card.channel).find((m) => m.thread_ts === card.ts && m.text?.includes('No longer counted')));
    expect(thread.text).toContain('<@U0BOB> approved: 1 of 2');
    const audit = createAudit(g.redis, { key: `${g.env.STATE_PREFIX}:audit`, maxLen: 1000 });
    expect(await audit.trail(String(request.run_id))).toContainEqual(
      expect.objectContaining({ event: 'vote_dropped', actor: 'U0BOB', detail: { voter: 'U0ALICE', reason: 'not_approver' } }),
    );

    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0CAROL' });
    const [decision] = await waitFor('the decision', async () => (await g.decisions()).length > 0 && g.decisions());
    expect(decision).toMatchObject({ decision: 'approved', decided_by: { id: 'U0CAROL' } });
    expect(decision!.approvals!.map((vote) => vote.id)).toEqual(['U0BOB', 'U0CAROL']);
  }, 60_000);

  it('an approval whose voter was deactivated since no longer counts', async () => {
    const g = await openGate();
    const { card } = await g.post();
    await approve(g, card, 'U0ALICE');
    g.emulator.addUser({ id: 'U0ALICE', username: 'alice', team_id: g.emulator.teamId, deleted: true });
    expect(await approve(g, card, 'U0BOB')).toContain('<@U0ALICE> (account deactivated)');
    expect(await g.decisions()).toEqual([]);
    await waitFor('the card to count Bob alone', () => JSON.stringify(cardNow(g, card).blocks).includes('*Approvals:* 1 of 2: <@U0BOB>'));
  }, 60_000);

  it('approvals that still stand complete it, each checked with Slack at that moment', async () => {
    const g = await openGate();
    const { card } = await g.post();
    await approve(g, card, 'U0ALICE');
    const before = g.emulator.callsOf('users.info').length;
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0BOB' });
    const [decision] = await waitFor('the decision', async () => (await g.decisions()).length > 0 && g.decisions());
    expect(decision!.approvals!.map((vote) => vote.id)).toEqual(['U0ALICE', 'U0BOB']);
    // Bob's own identity, and Alice's again although it was looked up a moment ago.
    expect(g.emulator.callsOf('users.info').slice(before).map((call) => call.args.user)).toEqual(['U0BOB', 'U0ALICE']);
  }, 60_000);

  it('a progress update Slack is slow to apply, landing after the decided card, is followed by the decided card again: no live buttons', async () => {
    const g = await openGate();
    const { card } = await g.post();
    const updatesBefore = g.emulator.callsOf('chat.update').length;
    // Alice's "1 of 2" reaches Slack now but is carried out 4 s later, after Bob's decision.
    g.emulator.injectFaults('chat.update', { delayMs: 4000, match: { ts: card.ts } });
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the progress update to reach Slack', () => g.emulator.callsOf('chat.update').length > updatesBefore);
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0BOB' });
    await waitFor('the decision', async () => (await g.decisions()).length === 1);
    await waitFor('the decided card', () => JSON.stringify(cardNow(g, card).blocks).includes('Approved'));
    // The slow update lands, then the bot finds the approval decided and shows it again.
    await waitFor('Alice\'s reply, sent once her update returned', () => g.emulator.ephemeralsFor('U0ALICE')[0], 15_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const shown = JSON.stringify(cardNow(g, card).blocks);
    expect(shown).not.toContain(ACTION_APPROVE);
    expect(shown).not.toContain('*Approvals:* 1 of 2');
    expect(cardNow(g, card).text).toContain('Approved');
  }, 60_000);
});
