import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSendTurns } from '../../src/store/send-turns.js';
import { postMessagePace } from '../../src/ops/slack-pace.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

/**
 * timers.ts promises an escalation "at most once, never twice", and every other post to a channel
 * waits for the channel's send turn (Slack's Retry-After included): escalations under faults.
 */

const gates = useGates();

async function openGate(): Promise<Gate> {
  const file = join(mkdtempSync(join(tmpdir(), 'escalation-')), 'approvals.yml');
  writeFileSync(file, ['routes:', '  - name: fast', '    channel: C0APPROVALS', '    approvers: [S0ONCALL]', '    expires_in: 60', '    escalate_after: 2', '    escalate_to: [S0SECURITY, U0CAROL]'].join('\n'));
  return gates.open({ env: { APPROVALS_CONFIG: file, APPROVALS_CHANNEL: '' } });
}

describe('escalation with an ambiguous Slack answer', () => {
  it('an escalation Slack posted but answered 502 is not posted a second time', async () => {
    const g = await openGate();
    const { card } = await g.post();
    // The escalation (a reply in the card's thread) is carried out by Slack, then answered 502.
    g.emulator.injectFaults('chat.postMessage', { status: 502, applyFirst: true, match: { thread_ts: card.ts } });
    const escalations = () => g.emulator.messagesIn(card.channel).filter((m) => m.thread_ts === card.ts && m.text.startsWith(':rotating_light:'));
    await waitFor('the escalation', () => escalations().length > 0, 15_000);
    // Room for the retry of a released claim (BullMQ backoff) on a loaded machine.
    await new Promise((resolve) => setTimeout(resolve, 8000));
    expect(escalations()).toHaveLength(1);
  });

  it('an escalation waits while the channel is held for Slack’s Retry-After, as cards and reminders do', async () => {
    const g = await openGate();
    const { card } = await g.post();
    // Slack answered 429 with Retry-After: 20 s on this channel (as another card's post would record it).
    await createSendTurns(g.redis, { prefix: g.env.STATE_PREFIX! }).hold(postMessagePace(card.channel), 20_000);
    // The escalation is due 2 s after the request; wait well past it, within the hold.
    await new Promise((resolve) => setTimeout(resolve, 7000));
    const escalations = g.emulator.messagesIn(card.channel).filter((m) => m.thread_ts === card.ts && m.text.startsWith(':rotating_light:'));
    expect(escalations).toEqual([]);
  });
});
