import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_DENY, ACTION_MORE } from '../../src/views/cards.js';
import { COMMENT_BLOCK, COMMENT_INPUT, TYPED_BLOCK, TYPED_INPUT } from '../../src/views/decide-modal.js';
import { approvalIdOf } from '../../src/domain/contract.js';
import { EXPIRED_IN_MODAL } from '../../src/views/replies.js';
import type { EmulatedMessage } from '../../sandbox/slack-emulator.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Expiry is a rule of the decision, not only of the timer: with the card's timers gone (as a
 * sweep that is late leaves them), a click, a list button, a modal submit or a typed confirmation at or after the
 * expiry decides nothing, and the approval ends as expired there and then.
 */

const gates = useGates();

/** A gate whose timers never run: {@link postAndOutlive} removes the card's due times once they are set. */
async function openLateTimerGate(routeLines?: string[]): Promise<Gate> {
  const env: Record<string, string> = {};
  if (routeLines) {
    const file = join(mkdtempSync(join(tmpdir(), 'expiry-')), 'approvals.yml');
    writeFileSync(file, ['routes:', '  - name: only', '    channel: C0APPROVALS', ...routeLines].join('\n'));
    Object.assign(env, { APPROVALS_CONFIG: file, APPROVALS_CHANNEL: '' });
  }
  return gates.open({ env });
}

/** Removes the card's timers once the card has set them (they are set just after Slack has the card). */
async function dropTimers(g: Gate): Promise<void> {
  const due = `${g.env.STATE_PREFIX}:due`;
  await waitFor('the card’s timers', async () => (await g.redis.zcard(due)) > 0);
  await g.redis.del(due);
}

/** Posts a request expiring in `seconds`, and returns once it certainly has (its clock starts before the card exists). */
async function postAndOutlive(g: Gate, seconds: number, before?: (card: EmulatedMessage, request: Record<string, unknown>) => Promise<unknown>) {
  const { request, card } = await g.post({ expires_in_sec: seconds });
  await dropTimers(g);
  const expired = Date.now() + seconds * 1000 + 200;
  await before?.(card, request);
  await delay(Math.max(0, expired - Date.now()));
  return { request, card };
}

async function expectExpiredOnTheSpot(g: Gate, card: EmulatedMessage): Promise<void> {
  const decisions = await waitFor('the decision', async () => (await g.decisions()).length > 0 && g.decisions());
  expect(decisions).toEqual([expect.objectContaining({ decision: 'expired', decided_by: { id: 'expiry', name: 'expiry' } })]);
  expect(decisions[0]).not.toHaveProperty('approvals');
  const updated = await waitFor('the expired card', () => {
    const current = g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)!;
    return JSON.stringify(current.blocks).includes(':hourglass: *Expired*') && current;
  });
  expect(JSON.stringify(updated.blocks)).not.toContain(ACTION_APPROVE);
}

describe('a decision at or after the expiry, the timer late', () => {
  it('Approve on the card decides nothing: the approval ends as expired, and the clicker is told', async () => {
    const g = await openLateTimerGate();
    let laterDeny: Record<string, unknown> = {};
    const { card } = await postAndOutlive(g, 2, async (posted) => {
      laterDeny = g.emulator.clickPayload({ channel: posted.channel, ts: posted.ts, actionId: ACTION_DENY, user: 'U0BOB' });
    });
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await expectExpiredOnTheSpot(g, card);
    const [reply] = await waitFor('the reply', () => g.emulator.ephemeralsFor('U0ALICE').length > 0 && g.emulator.ephemeralsFor('U0ALICE'));
    expect(reply).toMatch(/^:hourglass: Too late: this approval expired <!date\^\d+\^.*before your click\. Nothing was approved or denied/);
    await g.bot.waitForLog((l) => l.msg === 'decision recorded' && l.outcome === 'expired' && l.user === 'U0ALICE');

    await g.emulator.sendToApp(laterDeny);
    expect(await waitFor('the later reply', () => g.emulator.ephemeralsFor('U0BOB')[0])).toContain('Already closed: :hourglass: *Expired*');
    expect(await g.decisions()).toHaveLength(1);
  });

  it('a button of the /approvals list decides nothing either', async () => {
    const g = await openLateTimerGate();
    const { request, card } = await postAndOutlive(g, 2, () => g.emulator.command({ command: '/approvals', text: '', user: 'U0BOB', channel: 'C0APPROVALS' }));
    await g.emulator.clickInEphemeral({ user: 'U0BOB', actionId: ACTION_APPROVE, approvalId: approvalIdOf(request as { run_id: string; step_id: string }) });
    await expectExpiredOnTheSpot(g, card);
  });

  it('nor does an "Approve with comment…" submitted after it: the modal says so', async () => {
    const g = await openLateTimerGate();
    const { card } = await postAndOutlive(g, 2, async (posted) => {
      await g.emulator.chooseOverflow({ channel: posted.channel, ts: posted.ts, actionId: ACTION_MORE, optionPrefix: 'approve', user: 'U0ALICE' });
      await waitFor('the modal', () => g.emulator.views.opened.length > 0);
    });
    const response = await g.emulator.submitView({ user: 'U0ALICE', values: { [COMMENT_BLOCK]: { [COMMENT_INPUT]: 'looks fine' } } });
    expect(JSON.parse(response.body)).toEqual({ response_action: 'errors', errors: { [COMMENT_BLOCK]: EXPIRED_IN_MODAL } });
    await expectExpiredOnTheSpot(g, card);
  });

  it('nor does a typed confirmation, however right', async () => {
    const g = await openLateTimerGate(['    approvers: [U0ALICE, U0BOB]', '    confirm: typed']);
    const { request, card } = await postAndOutlive(g, 2, async (posted) => {
      await g.emulator.click({ channel: posted.channel, ts: posted.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
      await waitFor('the confirmation modal', () => g.emulator.views.opened.length > 0);
    });
    const response = await g.emulator.submitView({ user: 'U0ALICE', values: { [TYPED_BLOCK]: { [TYPED_INPUT]: String(request.step_id) }, [COMMENT_BLOCK]: { [COMMENT_INPUT]: '' } } });
    expect(JSON.parse(response.body)).toEqual({ response_action: 'errors', errors: { [COMMENT_BLOCK]: EXPIRED_IN_MODAL } });
    await expectExpiredOnTheSpot(g, card);
  });

  it('an approval decided before the expiry but recorded after it (Slack slow in between) ends as expired', async () => {
    const g = await openLateTimerGate(['    approvers: [U0ALICE, U0BOB]', '    required_approvals: 2']);
    const { card } = await g.post({ expires_in_sec: 3 });
    const expiresBy = Date.now() + 3000;
    await dropTimers(g);
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0BOB' });
    await waitFor('Bob’s approval counted', () => g.emulator.ephemeralsFor('U0BOB')[0]);
    // Alice completes it before the expiry; her click's re-check of Bob's approval waits on Slack until after it.
    g.emulator.injectFaults('users.info', {}, { delayMs: Math.max(0, expiresBy - Date.now()) + 1000 });
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await expectExpiredOnTheSpot(g, card);
    expect(await waitFor('the reply', () => g.emulator.ephemeralsFor('U0ALICE')[0])).toContain('Too late: this approval expired');
  });
});
