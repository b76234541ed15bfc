import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ACTION_DENY, ACTION_MORE } from '../../src/views/cards.js';
import { DecisionSchema } from '../../src/domain/contract.js';
import { COMMENT_BLOCK, COMMENT_INPUT } from '../../src/views/decide-modal.js';
import { renderJsonSchemas } from '../../src/domain/json-schemas.js';
import { useGates } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();

describe('the contract as JSON Schema', () => {
  it.each(Object.keys(renderJsonSchemas()))('schemas/%s is up to date with src/domain/contract.ts (run npm run schemas)', (file) => {
    expect(JSON.parse(readFileSync(`schemas/${file}`, 'utf8'))).toEqual(renderJsonSchemas()[file]);
  });

  it('every kind of decision the bot pushes has exactly the fields the decision schema names', async () => {
    const g = await gates.open();
    g.emulator.emailScope = true;
    g.emulator.addUser({ id: 'U0ALICE', username: 'alice', team_id: g.emulator.teamId, email: 'alice@example.com' });
    const approved = await g.post();
    await g.emulator.chooseOverflow({ channel: approved.card.channel, ts: approved.card.ts, actionId: ACTION_MORE, optionPrefix: 'approve', user: 'U0ALICE' });
    await waitFor('the modal', () => g.emulator.views.opened.length > 0);
    await g.emulator.submitView({ user: 'U0ALICE', values: { [COMMENT_BLOCK]: { [COMMENT_INPUT]: 'looks right' } } });
    const denied = await g.post();
    await g.emulator.click({ channel: denied.card.channel, ts: denied.card.ts, actionId: ACTION_DENY, user: 'U0BOB' });
    await g.post({ expires_in_sec: 1 });
    await waitFor('approved, denied and expired', async () => (await g.decisions()).length === 3, 10_000);
    await g.post();
    await g.finished(await g.requests.add('policy', { policy_snapshot: 'sha256:00112233445566778899aabbccddeeff' }));
    const decisions = await waitFor('four decisions', async () => (await g.decisions()).length === 4 && g.decisions());
    expect(decisions.map((d) => d.decision).sort()).toEqual(['approved', 'denied', 'expired', 'stale']);
    for (const decision of decisions) expect(DecisionSchema.safeParse(decision).error?.issues ?? []).toEqual([]);
    expect(decisions.find((d) => d.decision === 'approved')).toMatchObject({ comment: 'looks right', decided_by: { email: 'alice@example.com' }, approvals: [{ id: 'U0ALICE', comment: 'looks right' }] });
  });
});
