import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/domain/contract.js';
import { ACTION_MORE } from '../../src/views/cards.js';
import { COMMENT_BLOCK, COMMENT_INPUT } from '../../src/views/decide-modal.js';
import { POLICY_SNAPSHOT, useGates } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The inputs through the bot as `npm start` runs it, against the emulator, which refuses
 * what Slack refuses (the whole message's text included, and response_url replies).
 */

const gates = useGates();
const amp = (length: number) => '&'.repeat(length);

/** Every field of the request at the contract's maximum, full of `&` (which escaping makes five characters). */
const maximal = {
  run_id: amp(LIMITS.id),
  step_id: amp(LIMITS.id),
  workflow: amp(LIMITS.name),
  requested_by: amp(LIMITS.name),
  reason: amp(LIMITS.reason),
  policy_snapshot: POLICY_SNAPSHOT,
  policy_rule: amp(LIMITS.name),
  risk_tags: Array.from({ length: LIMITS.riskTags }, (_, i) => amp(LIMITS.riskTag - 2) + String(i).padStart(2, '0')),
  constraints: Object.fromEntries(Array.from({ length: LIMITS.constraints }, (_, i) => [amp(LIMITS.constraintKey - 2) + String(i).padStart(2, '0'), amp(LIMITS.constraintValue)])),
};

describe('what Slack accepts, end to end', () => {
  it('a request with every field at its maximum and full of & is posted, listed, and approved with a 1,000-character comment', async () => {
    const g = await gates.open();
    const { card } = await g.post(maximal);
    expect(g.emulator.callsOf('chat.postMessage').map((call) => call.answered)).toEqual(['ok']);

    await g.emulator.command({ command: '/approvals', text: '', user: 'U0BOB', channel: 'C0APPROVALS' });
    const list = await waitFor('the list', () => g.emulator.ephemeralMessagesFor('U0BOB')[0]);
    expect(list.text).toBe('1 approval waiting');

    await g.emulator.chooseOverflow({ channel: card.channel, ts: card.ts, actionId: ACTION_MORE, optionPrefix: 'approve', user: 'U0ALICE' });
    await waitFor('the modal', () => g.emulator.views.opened.length > 0);
    await g.emulator.submitView({ user: 'U0ALICE', values: { [COMMENT_BLOCK]: { [COMMENT_INPUT]: amp(1000) } } });
    const decided = await waitFor('the decided card', () => {
      const current = g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)!;
      return JSON.stringify(current.blocks).includes('*Approved* by <@U0ALICE>') && current;
    });
    expect(JSON.stringify(decided.blocks)).toContain('*Comment:* &amp;&amp;');
    expect(g.emulator.callsOf('chat.update').map((call) => call.answered)).toEqual(['ok']);
  });

  it('/approvals with a 600-character argument of & answers that nothing is waiting, its argument cut', async () => {
    const g = await gates.open();
    await g.emulator.command({ command: '/approvals', text: amp(600), user: 'U0BOB', channel: 'C0APPROVALS' });
    const reply = await waitFor('the reply', () => g.emulator.ephemeralMessagesFor('U0BOB')[0]);
    expect(reply.text).toMatch(/^No approvals are waiting tagged `(&amp;)+…`\.$/);
  });
});
