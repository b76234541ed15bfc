import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE } from '../../src/views/cards.js';
import { freePort } from '../../sandbox/free-port.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();

/** A gate whose default route expires approvals after `expires` seconds and reminds `remindBefore` seconds before. */
async function openGate(expires: number, remindBefore?: number): Promise<Gate> {
  const file = join(mkdtempSync(join(tmpdir(), 'timers-')), 'approvals.yml');
  writeFileSync(
    file,
    ['routes:', '  - name: fast', '    channel: C0APPROVALS', '    approvers: [S0ONCALL]', `    expires_in: ${expires}`, ...(remindBefore ? [`    remind_before: ${remindBefore}`] : [])].join('\n'),
  );
  return gates.open({ env: { APPROVALS_CONFIG: file, APPROVALS_CHANNEL: '' } });
}

describe('expiry', () => {
  it('an approval nobody decides expires: the engine is told, the card says so, later clicks are refused', async () => {
    const g = await openGate(2);
    const { request, card } = await g.post();
    expect(JSON.stringify(card.blocks)).toContain('*Expires* <!date^');
    const lateClick = g.emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const [decision] = await waitFor('the expiry', async () => (await g.decisions()).length > 0 && g.decisions(), 15_000);
    expect(decision).toMatchObject({ run_id: request.run_id, decision: 'expired', decided_by: { id: 'expiry' } });
    await waitFor('the expired card', () => JSON.stringify(g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)!.blocks).includes(':hourglass: *Expired*'));
    await g.emulator.sendToApp(lateClick);
    expect(await waitFor('the refusal', () => g.emulator.ephemeralsFor('U0ALICE')[0])).toContain('Already closed: :hourglass: *Expired*');
  });

  it('runs once the bot is back when it was down at the time, and once with two bots running', async () => {
    const g = await openGate(2);
    const { request } = await g.post();
    await g.bot.kill();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await Promise.all([g.startAnother(), g.startAnother({ PORT: String(await freePort()) })]);
    await waitFor('the expiry', async () => (await g.decisions()).length > 0, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await g.decisions()).map((d) => [d.run_id, d.decision])).toEqual([[request.run_id, 'expired']]);
  });

  it('needs nothing but the approval: with the policy snapshot key missing, it still expires and the card loses its buttons', async () => {
    const g = await openGate(2);
    const { card } = await g.post();
    await g.redis.del(g.env.POLICY_SNAPSHOT_KEY!);
    const [decision] = await waitFor('the expiry', async () => (await g.decisions()).length > 0 && g.decisions(), 15_000);
    expect(decision).toMatchObject({ decision: 'expired', decided_by: { id: 'expiry' } });
    await waitFor('the expired card', () => !JSON.stringify(g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)!.blocks).includes(ACTION_APPROVE));
  });

  it('a request may ask for less time than the route allows', async () => {
    const g = await openGate(3600);
    const { request } = await g.post({ expires_in_sec: 1 });
    await waitFor('the short expiry', async () => (await g.decisions()).some((d) => d.run_id === request.run_id), 15_000);
  });

  it('…but never more', async () => {
    const g = await openGate(1);
    const { request } = await g.post({ expires_in_sec: 86_400 });
    await waitFor('the route’s expiry', async () => (await g.decisions()).some((d) => d.run_id === request.run_id && d.decision === 'expired'), 15_000);
  });

  it('a decision before expiry stands: the expiry does nothing', async () => {
    const g = await openGate(2);
    const { card } = await g.post();
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0BOB' });
    await waitFor('the decision', async () => (await g.decisions()).length === 1);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await g.decisions()).map((d) => d.decision)).toEqual(['approved']);
  });
});

describe('reminders', () => {
  it('before expiry, a reply in the card’s thread names the approvers who have not acted', async () => {
    const g = await openGate(4, 2);
    const { card } = await g.post();
    const reminder = await waitFor('the reminder', () => g.emulator.messagesIn(card.channel).find((m) => m.thread_ts === card.ts), 15_000);
    expect(reminder.text).toMatch(/^:alarm_clock: <!subteam\^S0ONCALL>: this approval is still waiting for a decision\. It expires <!date\^/);
  });

  it('a reminder Slack carries out after the approval was decided is deleted: the thread does not say it still waits', async () => {
    const g = await openGate(10, 8);
    const { card } = await g.post();
    // The reminder, due 2 s after the card, reaches Slack but is carried out 4 s later.
    g.emulator.injectFaults('chat.postMessage', { delayMs: 4000, match: { thread_ts: card.ts } });
    await waitFor('the reminder to reach Slack', () => g.emulator.callsOf('chat.postMessage').some((call) => call.args.thread_ts === card.ts), 15_000);
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the decision', async () => (await g.decisions()).length === 1);
    await waitFor('the late reminder to be posted', () => g.emulator.callsOf('chat.postMessage').some((call) => call.args.thread_ts === card.ts && call.answered === 'ok'), 15_000);
    await waitFor('the late reminder to be deleted', () => g.emulator.callsOf('chat.delete').length === 1, 5000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(g.emulator.messagesIn(card.channel).filter((m) => m.thread_ts === card.ts && m.text?.includes('still waiting'))).toEqual([]);
  });
});
