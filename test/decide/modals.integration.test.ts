import { describe, expect, it } from 'vitest';
import { ACTION_MORE } from '../../src/views/cards.js';
import { COMMENT_BLOCK, COMMENT_INPUT } from '../../src/views/decide-modal.js';
import { MODAL_ERRORS } from '../../src/views/replies.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();
const openGate = () => gates.open();

async function openModal(g: Gate, card: { channel: string; ts: string }, user: string, optionPrefix: 'approve' | 'deny') {
  const before = g.emulator.views.opened.length;
  await g.emulator.chooseOverflow({ channel: card.channel, ts: card.ts, actionId: ACTION_MORE, optionPrefix, user });
  return waitFor('the modal', () => g.emulator.views.opened.length > before && g.emulator.views.opened.at(-1)!);
}

const submit = (g: Gate, user: string, text: string) => g.emulator.submitView({ user, values: { [COMMENT_BLOCK]: { [COMMENT_INPUT]: text } } });

describe('deny with a reason, approve with a comment', () => {
  it('Deny with reason… opens a modal; its reason goes into the decision and onto the card', async () => {
    const g = await openGate();
    const { card } = await g.post();
    const modal = await openModal(g, card, 'U0ALICE', 'deny');
    expect(JSON.stringify(modal.view)).toContain('Deny with reason');
    const response = await submit(g, 'U0ALICE', 'touches the billing tables <!channel>');
    expect([response.status, response.body]).toEqual([200, '']);
    const [decision] = await waitFor('the decision', async () => (await g.decisions()).length > 0 && g.decisions());
    expect(decision).toMatchObject({ decision: 'denied', decided_by: { id: 'U0ALICE' }, comment: 'touches the billing tables <!channel>' });
    const updated = await waitFor('the card', () => {
      const current = g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)!;
      return JSON.stringify(current.blocks).includes('*Comment:*') && current;
    });
    expect(JSON.stringify(updated.blocks)).toContain('*Comment:* touches the billing tables &lt;!channel&gt;');
  });

  it('a submit that cannot be checked in time (Slack slow to say who clicked) is answered within 3 s that nothing was decided, and is never recorded', async () => {
    const g = await openGate();
    const { card } = await g.post();
    await openModal(g, card, 'U0BOB', 'approve');
    g.emulator.injectFaults('users.info', { delayMs: 4000 });
    const response = await submit(g, 'U0BOB', 'checked with the DBA');
    expect(response.status).toBe(200);
    expect(response.elapsedMs).toBeLessThan(3000);
    expect(JSON.parse(response.body)).toEqual({ response_action: 'errors', errors: { [COMMENT_BLOCK]: MODAL_ERRORS.tooSlow } });
    await g.bot.waitForLog((l) => l.msg === 'modal submit failed after its answer', 15_000);
    expect(await g.decisions()).toEqual([]);
  });

  it('Approve with comment… approves with the comment', async () => {
    const g = await openGate();
    const { card } = await g.post();
    await openModal(g, card, 'U0BOB', 'approve');
    await submit(g, 'U0BOB', 'checked with the DBA');
    const [decision] = await waitFor('the decision', async () => (await g.decisions()).length > 0 && g.decisions());
    expect(decision).toMatchObject({ decision: 'approved', comment: 'checked with the DBA', approvals: [{ id: 'U0BOB', comment: 'checked with the DBA' }] });
  });

  it('re-checks on submit: decided while the modal was open, the modal says so and nothing changes', async () => {
    const g = await openGate();
    const { card } = await g.post();
    await openModal(g, card, 'U0ALICE', 'deny');
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: 'approval_approve', user: 'U0BOB' });
    await waitFor('the approval', async () => (await g.decisions()).length === 1);
    const response = await submit(g, 'U0ALICE', 'too late');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({
      response_action: 'errors',
      errors: { [COMMENT_BLOCK]: 'Nothing was decided: it was decided while this form was open (approved by bob).' },
    });
    expect((await g.decisions()).map((d) => d.decision)).toEqual(['approved']);
  });

  it('re-checks on submit: the policy changed while the modal was open, the approval ends as stale', async () => {
    const g = await openGate();
    const { card } = await g.post();
    await openModal(g, card, 'U0ALICE', 'approve');
    await g.redis.set(g.env.POLICY_SNAPSHOT_KEY!, 'ffffffffffffffff');
    await submit(g, 'U0ALICE', 'fine');
    await waitFor('the stale decision', async () => (await g.decisions()).some((d) => d.decision === 'stale'));
  });

  it('a trigger id works once and only for three seconds, as Slack’s', async () => {
    const g = await openGate();
    const { card } = await g.post();
    await openModal(g, card, 'U0ALICE', 'deny');
    const trigger = g.emulator.views.issueTrigger('U0ALICE');
    const { WebClient } = await import('@slack/web-api');
    const slack = new WebClient('xoxb-test-token', { slackApiUrl: g.emulator.apiUrl, retryConfig: { retries: 0 } });
    const view = { type: 'modal' as const, title: { type: 'plain_text' as const, text: 'T' }, blocks: [] };
    await slack.views.open({ trigger_id: trigger, view });
    await expect(slack.views.open({ trigger_id: trigger, view })).rejects.toMatchObject({ data: { error: 'exchanged_trigger_id' } });
    await expect(slack.views.open({ trigger_id: 'made.up.trigger', view })).rejects.toMatchObject({ data: { error: 'invalid_trigger_id' } });
  });
});
