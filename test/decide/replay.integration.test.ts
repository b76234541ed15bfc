import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_MORE } from '../../src/views/cards.js';
import { COMMENT_BLOCK, COMMENT_INPUT } from '../../src/views/decide-modal.js';
import { POLICY_SNAPSHOT, useGates, type Gate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Requests Slack did not send are refused: a timestamp more than 5 minutes away from now, either
 * way, and the same request (the same signed bytes, or the same Socket Mode envelope) a second time.
 */

const gates = useGates();
const APP_TOKEN = 'xapp-1-A0APPROVALGATE-test-socket-mode';
const nowSec = () => Math.floor(Date.now() / 1000);

function hasButtons(g: Gate, card: { channel: string; ts: string }): boolean {
  return JSON.stringify(g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)?.blocks ?? []).includes(ACTION_APPROVE);
}

/** Refused for want of a policy snapshot; then the snapshot is back, as in issue #14. */
async function refusedForNoPolicy(g: Gate, send: () => Promise<unknown>, user: string): Promise<void> {
  await g.redis.del(g.env.POLICY_SNAPSHOT_KEY!);
  await send();
  await waitFor('the refusal', () => g.emulator.ephemeralsFor(user).some((text) => text.includes('policy snapshot in force cannot be read')));
  await g.redis.set(g.env.POLICY_SNAPSHOT_KEY!, POLICY_SNAPSHOT);
  await delay(2000);
}

describe('replayed and future-dated requests', () => {
  it('a click refused for a missing snapshot, re-sent byte for byte 2 s after the snapshot is back, decides nothing', async () => {
    const g = await gates.open();
    const { card } = await g.post();
    const payload = g.emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    let first: Awaited<ReturnType<typeof g.emulator.sendToApp>> | undefined;
    await refusedForNoPolicy(g, async () => (first = await g.emulator.sendToApp(payload, { timestampSec: nowSec() })), 'U0ALICE');

    const replay = await g.emulator.resend(first!.sent!);
    expect(replay.status).toBe(401);
    await delay(1500);
    expect(await g.decisions()).toEqual([]);
    expect(hasButtons(g, card)).toBe(true);
    expect(g.emulator.ephemeralsFor('U0ALICE')).toHaveLength(1);
    await g.bot.waitForLog((l) => l.msg === 'request refused' && l.reason === 'replayed');
    const metrics = await (await fetch(`http://127.0.0.1:${g.env.PORT}/metrics`)).text();
    expect(metrics).toMatch(/approval_gate_refusals_total\{reason="replayed",action="approve"\} 1/);
  });

  it.each([
    ['with text after the hash', '=anything'],
    ['with a bare = after the hash', '='],
  ])('a refused click re-sent with its signature header varied (%s), which Bolt still accepts, gets HTTP 401 and decides nothing', async (_variant, suffix) => {
    const g = await gates.open();
    const { card } = await g.post();
    const payload = g.emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    let first: Awaited<ReturnType<typeof g.emulator.sendToApp>> | undefined;
    await refusedForNoPolicy(g, async () => (first = await g.emulator.sendToApp(payload, { timestampSec: nowSec() })), 'U0ALICE');

    const sent = first!.sent!;
    const replay = await g.emulator.resend({ ...sent, headers: { ...sent.headers, 'x-slack-signature': `${sent.headers['x-slack-signature']}${suffix}` } });
    expect(replay.status).toBe(401);
    await g.bot.waitForLog((l) => l.msg === 'request refused' && l.reason === 'malformed_signature' && l.action === 'approve');
    await delay(1500);
    expect(await g.decisions()).toEqual([]);
    expect(hasButtons(g, card)).toBe(true);
    expect(g.emulator.ephemeralsFor('U0ALICE')).toHaveLength(1);
    const metrics = await (await fetch(`http://127.0.0.1:${g.env.PORT}/metrics`)).text();
    expect(metrics).toMatch(/approval_gate_refusals_total\{reason="malformed_signature",action="approve"\} 1/);
  });

  it('a modal submit refused for a missing snapshot, re-sent byte for byte once the snapshot is back, decides nothing', async () => {
    const g = await gates.open();
    const { card } = await g.post();
    await g.emulator.chooseOverflow({ channel: card.channel, ts: card.ts, actionId: ACTION_MORE, optionPrefix: 'approve', user: 'U0BOB' });
    await waitFor('the modal', () => g.emulator.views.opened.length === 1);
    await g.redis.del(g.env.POLICY_SNAPSHOT_KEY!);
    const refused = await g.emulator.submitView({ user: 'U0BOB', values: { [COMMENT_BLOCK]: { [COMMENT_INPUT]: 'fine by me' } } });
    expect(refused.body).toContain('policy snapshot in force cannot be read');
    await g.redis.set(g.env.POLICY_SNAPSHOT_KEY!, POLICY_SNAPSHOT);

    const replay = await g.emulator.resend(refused.sent!);
    expect(replay.status).toBe(401);
    await delay(1500);
    expect(await g.decisions()).toEqual([]);
    expect(hasButtons(g, card)).toBe(true);
  });

  it.each([
    ['10 minutes', 10 * 60],
    ['a day', 24 * 3600],
  ])('a click dated %s in the future gets HTTP 401 and decides nothing', async (_ahead, aheadSec) => {
    const g = await gates.open();
    const { card } = await g.post();
    const payload = g.emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const response = await g.emulator.sendToApp(payload, { timestampSec: nowSec() + aheadSec });
    expect(response.status).toBe(401);
    await g.bot.waitForLog((l) => l.msg === 'request refused' && l.reason === 'future_timestamp');
    await delay(1000);
    expect(await g.decisions()).toEqual([]);
    expect(hasButtons(g, card)).toBe(true);
    expect(g.emulator.ephemeralsFor('U0ALICE')).toEqual([]);
  });

  it('a click dated 4 minutes ahead (a clock within the 5-minute window) still decides', async () => {
    const g = await gates.open();
    const { card } = await g.post();
    const payload = g.emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    expect((await g.emulator.sendToApp(payload, { timestampSec: nowSec() + 4 * 60 })).status).toBe(200);
    await waitFor('the decision', async () => (await g.decisions()).length === 1);
  });

  it('the same signed bytes sent twice at once are processed once: the other copy gets HTTP 401', async () => {
    const g = await gates.open();
    const { card } = await g.post();
    const payload = g.emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const timestampSec = nowSec();
    const responses = await Promise.all([g.emulator.sendToApp(payload, { timestampSec }), g.emulator.sendToApp(payload, { timestampSec })]);
    expect(responses.map((r) => r.status).sort()).toEqual([200, 401]);
    await waitFor('the decision', async () => (await g.decisions()).length === 1);
    await delay(1000);
    // Processed once: nobody is told "already approved" by a second copy of the same click.
    expect(g.emulator.ephemeralsFor('U0ALICE')).toEqual([]);
  });

  it('over Socket Mode, an envelope delivered again under its id is acknowledged and changes nothing', async () => {
    const g = await gates.open({ env: { SLACK_APP_TOKEN: APP_TOKEN, SLACK_SIGNING_SECRET: '' } });
    const { card } = await g.post();
    const payload = g.emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    let first: Awaited<ReturnType<typeof g.emulator.sendToApp>> | undefined;
    await refusedForNoPolicy(g, async () => (first = await g.emulator.sendToApp(payload)), 'U0ALICE');

    const again = await g.emulator.sendToApp(payload, { envelopeId: first!.envelopeId! });
    expect(again.status).toBe(200);
    await g.bot.waitForLog((l) => l.msg === 'request refused' && l.reason === 'replayed');
    await delay(1000);
    expect(await g.decisions()).toEqual([]);
    expect(hasButtons(g, card)).toBe(true);
    expect(g.emulator.ephemeralsFor('U0ALICE')).toHaveLength(1);
  });
});
