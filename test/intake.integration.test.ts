import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { approvalIdOf } from '../src/contract.js';
import { ACTION_APPROVE, ACTION_DENY, CARD_EVENT_TYPE } from '../src/cards.js';
import { startGate, APPROVALS_CHANNEL, type Gate } from './helpers/gate.js';
import { validRequest } from './helpers/requests.js';

let gate: Gate;
afterEach(async () => gate?.close());

async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(50);
  }
}

function cardsFor(request: Record<string, unknown>) {
  const id = approvalIdOf(request as { run_id: string; step_id: string });
  return gate.emulator.messagesIn().filter((m) => m.metadata?.event_type === CARD_EVENT_TYPE && m.metadata.event_payload.approval_id === id);
}

describe('request intake', () => {
  it('a valid request gives exactly one card with every field', async () => {
    gate = await startGate(inject('redisUrl'));
    const request = validRequest({ workflow: 'incident-triage', step_id: 'remediate', reason: 'prod write detected' });
    await gate.requests.add('request', request);

    const [card] = await waitFor('the card', () => cardsFor(request).length === 1 && cardsFor(request));
    expect(card!.channel).toBe(APPROVALS_CHANNEL);
    const json = JSON.stringify(card!.blocks);
    for (const expected of ['incident-triage', 'remediate', 'prod write detected', 'prod', 'write', 'max_lines_changed', '500', 'max_runtime_sec', '900', 'workflow.incident-triage', 'prod-writes-need-approval', String(request.run_id), '7f3d1a2b9c0e', ACTION_APPROVE, ACTION_DENY]) {
      expect(json).toContain(expected);
    }
    expect(card!.text).toContain('prod write detected');
    await gate.bot.waitForLog((l) => l.msg === 'card posted' && l.run_id === request.run_id);
  });
});
