import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_MORE } from '../src/views/cards.js';
import { COMMENT_BLOCK, COMMENT_INPUT } from '../src/views/decide-modal.js';
import { useGates } from './helpers/gate.js';
import { waitFor } from './helpers/wait.js';

const gates = useGates();
const APP_TOKEN = 'xapp-1-A0APPROVALGATE-test-socket-mode';

describe('Socket Mode', () => {
  it('connects with the app token, and clicks, modals and /approvals arrive over the socket and decide as over HTTP', async () => {
    const g = await gates.open({ env: { SLACK_APP_TOKEN: APP_TOKEN, SLACK_SIGNING_SECRET: '' } });
    expect(g.emulator.socketMode.connected).toBe(true);
    expect(g.emulator.callsOf('apps.connections.open')).toHaveLength(1);

    const { card } = await g.post();
    const click = await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    expect(click.status).toBe(200);
    const [decision] = await waitFor('the decision', async () => (await g.decisions()).length === 1 && g.decisions());
    expect(decision).toMatchObject({ decision: 'approved', decided_by: { id: 'U0ALICE' } });

    const other = await g.post();
    await g.emulator.chooseOverflow({ channel: other.card.channel, ts: other.card.ts, actionId: ACTION_MORE, optionPrefix: 'deny', user: 'U0BOB' });
    await waitFor('the modal', () => g.emulator.views.opened.length === 1);
    const empty = await g.emulator.submitView({ user: 'U0BOB', values: { [COMMENT_BLOCK]: { [COMMENT_INPUT]: '  ' } } });
    expect(JSON.parse(empty.body)).toMatchObject({ response_action: 'errors' });
    await g.emulator.submitView({ user: 'U0BOB', values: { [COMMENT_BLOCK]: { [COMMENT_INPUT]: 'not now' } } });
    await waitFor('the deny', async () => (await g.decisions()).some((d) => d.decision === 'denied' && d.comment === 'not now'));

    await g.emulator.command({ command: '/approvals', text: 'help', user: 'U0ALICE', channel: 'C0APPROVALS' });
    expect(await waitFor('the help', () => g.emulator.ephemeralsFor('U0ALICE').at(-1))).toContain('/approvals mine');

    const health = await fetch(`http://127.0.0.1:${g.env.PORT}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${g.env.PORT}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('a bot token cannot open a Socket Mode connection', async () => {
    const g = await gates.open({ env: { SLACK_APP_TOKEN: APP_TOKEN, SLACK_SIGNING_SECRET: '' } });
    const answer = await fetch(`${g.emulator.apiUrl}apps.connections.open`, { method: 'POST', headers: { authorization: `Bearer ${g.env.SLACK_BOT_TOKEN}` } });
    expect(await answer.json()).toEqual({ ok: false, error: 'not_allowed_token_type' });
  });
});
