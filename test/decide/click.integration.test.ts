import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_DENY } from '../../src/views/cards.js';
import { approvalIdOf, decisionJobId, type Decision } from '../../src/domain/contract.js';
import type { EmulatedMessage } from '../../sandbox/slack-emulator.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { waitFor } from '../helpers/wait.js';
import { TEST_KEY_ID } from '../helpers/signing-key.js';

const SNAPSHOT = '7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c';

const gates = useGates();

async function openGate(options: Parameters<typeof gates.open>[0] = {}): Promise<Gate> {
  const current = await gates.open(options);
  await current.redis.set(current.env.POLICY_SNAPSHOT_KEY!, `sha256:${SNAPSHOT}`);
  return current;
}

/** Enqueues a request and waits for its card. */
async function cardFor(gate: Gate, overrides: Record<string, unknown> = {}): Promise<{ request: Record<string, unknown>; card: EmulatedMessage }> {
  const request = validRequest({ policy_snapshot: SNAPSHOT, ...overrides });
  await gate.finished(await gate.requests.add('request', request));
  const [card] = gate.cardsFor(request);
  if (!card) throw new Error('no card was posted');
  return { request, card };
}

async function decisions(gate: Gate): Promise<Decision[]> {
  return (await gate.resume.getJobs(['wait', 'active', 'completed', 'failed', 'delayed'])).map((job) => job.data as Decision);
}

function hasButtons(message: EmulatedMessage | undefined): boolean {
  return JSON.stringify(message?.blocks ?? []).includes(ACTION_APPROVE);
}

function current_(gate: Gate, card: EmulatedMessage): EmulatedMessage | undefined {
  return gate.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts);
}

describe('a click on the card', () => {
  it('Approve records one decision, pushes it onto the resume queue and updates the card in place', async () => {
    const gate = await openGate();
    const { request, card } = await cardFor(gate);
    const response = await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    expect(response.status).toBe(200);

    const [decision] = await waitFor('the decision', async () => (await decisions(gate)).length > 0 && decisions(gate));
    expect(decision).toEqual({
      run_id: request.run_id,
      step_id: 'remediate',
      decision: 'approved',
      decided_by: { id: 'U0ALICE', name: 'alice', team_id: 'T0SANDBOX' },
      decided_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      policy_snapshot: SNAPSHOT,
      job_hash: request.job_hash,
      constraints: { max_lines_changed: 500, max_runtime_sec: 900 },
      approvals: [{ id: 'U0ALICE', name: 'alice', at: decision!.decided_at }],
      signature: { alg: 'Ed25519', key_id: TEST_KEY_ID, sig: expect.any(String) },
    });
    const job = await gate.resume.getJob(decisionJobId(approvalIdOf(request as { run_id: string; step_id: string })));
    expect(job?.name).toBe('decision');

    const updated = await waitFor('the card update', () => current_(gate, card)?.edited && current_(gate, card));
    expect(hasButtons(updated)).toBe(false);
    const text = JSON.stringify(updated.blocks);
    expect(text).toContain(':white_check_mark: *Approved* by <@U0ALICE> <!date^');
    expect(text).toContain('prod write detected');
    expect(updated.text).toMatch(/^Approved: /);
    await gate.bot.waitForLog((l) => l.msg === 'decision recorded' && l.outcome === 'approved' && l.run_id === request.run_id && l.user === 'U0ALICE');
  });

  it('Deny records a denial', async () => {
    const gate = await openGate();
    const { card } = await cardFor(gate);
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_DENY, user: 'U0BOB' });
    const [decision] = await waitFor('the decision', async () => (await decisions(gate)).length > 0 && decisions(gate));
    expect(decision).toMatchObject({ decision: 'denied', decided_by: { id: 'U0BOB', name: 'bob' } });
    const updated = await waitFor('the card update', () => current_(gate, card)?.edited && current_(gate, card));
    expect(JSON.stringify(updated.blocks)).toContain(':no_entry: *Denied* by <@U0BOB>');
  });

  it('a policy change before the click ends the approval as stale, whatever was clicked', async () => {
    const gate = await openGate();
    const { card } = await cardFor(gate);
    await gate.redis.set(gate.env.POLICY_SNAPSHOT_KEY!, 'ABCDEF0123456789ABCDEF');
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const [decision] = await waitFor('the decision', async () => (await decisions(gate)).length > 0 && decisions(gate));
    expect(decision).toMatchObject({ decision: 'stale', policy_snapshot: SNAPSHOT, policy_snapshot_in_force: 'ABCDEF0123456789ABCDEF' });
    const updated = await waitFor('the card update', () => current_(gate, card)?.edited && current_(gate, card));
    expect(hasButtons(updated)).toBe(false);
    expect(JSON.stringify(updated.blocks)).toContain('the policy changed since the request* (`7f3d1a2b9c0e` → `abcdef012345`)');
  });

  it('with no policy snapshot in force, nothing is decided: the reviewer is told why and the card keeps its buttons', async () => {
    const gate = await openGate();
    const { card } = await cardFor(gate);
    await gate.redis.del(gate.env.POLICY_SNAPSHOT_KEY!);
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const [reply] = await waitFor('the ephemeral reply', () => gate.emulator.ephemeralsFor('U0ALICE').length > 0 && gate.emulator.ephemeralsFor('U0ALICE'));
    expect(reply).toContain('policy snapshot in force cannot be read, so nothing was approved');
    expect(await decisions(gate)).toEqual([]);
    expect(hasButtons(current_(gate, card))).toBe(true);

    await gate.redis.set(gate.env.POLICY_SNAPSHOT_KEY!, SNAPSHOT);
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the decision once the policy is back', async () => (await decisions(gate)).length === 1);
  });

  it('a Deny needs no policy: with the snapshot key missing it is recorded as a denial', async () => {
    const gate = await openGate();
    const { card } = await cardFor(gate);
    await gate.redis.del(gate.env.POLICY_SNAPSHOT_KEY!);
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_DENY, user: 'U0BOB' });
    const [decision] = await waitFor('the decision', async () => (await decisions(gate)).length > 0 && decisions(gate));
    expect(decision).toMatchObject({ decision: 'denied', decided_by: { id: 'U0BOB' }, policy_snapshot: SNAPSHOT });
    expect(decision).not.toHaveProperty('policy_snapshot_in_force');
    const updated = await waitFor('the card update', () => current_(gate, card)?.edited && current_(gate, card));
    expect(JSON.stringify(updated.blocks)).toContain(':no_entry: *Denied* by <@U0BOB>');
  });

  it.each([
    ['a forged click (wrong signing secret)', { signingSecret: 'not-the-secret-at-all' }],
    ['an unsigned click', { sign: false }],
    ['a click replayed after the 5-minute window', { timestampSec: Math.floor(Date.now() / 1000) - 6 * 60 }],
  ])('%s gets HTTP 401 and changes nothing', async (_what, options) => {
    const gate = await openGate();
    const { card } = await cardFor(gate);
    const payload = gate.emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0MALLORY' });
    const response = await gate.emulator.sendToApp(payload, options);
    expect(response.status).toBe(401);
    const valid = await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_DENY, user: 'U0ALICE' });
    expect(valid.status).toBe(200);
    const [decision] = await waitFor('the valid decision', async () => (await decisions(gate)).length > 0 && decisions(gate));
    expect(decision!.decided_by.id).toBe('U0ALICE');
  });

  it('20 simultaneous clicks, Approve and Deny mixed: every one acked in time, exactly one decision, the others told who decided', async () => {
    const gate = await openGate();
    const { card } = await cardFor(gate);
    const users = ['U0ALICE', 'U0BOB', 'U0CAROL', 'U0MALLORY'];
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: i % 2 ? ACTION_DENY : ACTION_APPROVE, user: users[i % 4]! }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(Math.max(...responses.map((r) => r.elapsedMs))).toBeLessThan(3000);

    await waitFor('19 ephemeral replies', () => gate.emulator.responses.filter((r) => r.body.replace_original === false).length === 19);
    const all = await decisions(gate);
    expect(all).toHaveLength(1);
    const winner = all[0]!;
    const replies = users.flatMap((u) => gate.emulator.ephemeralsFor(u));
    expect(replies).toHaveLength(19);
    for (const reply of replies) expect(reply).toContain(`Already ${winner.decision} by <@${winner.decided_by.id}> <!date^`);
  });

  it('the same click delivered twice, signed at two moments, decides once; the second is told who decided', async () => {
    const gate = await openGate();
    const { card } = await cardFor(gate);
    const payload = gate.emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const now = Math.floor(Date.now() / 1000);
    // Two signatures (the same bytes twice are a replay, refused: see replay.integration.test.ts).
    const [first, second] = await Promise.all([gate.emulator.sendToApp(payload, { timestampSec: now }), gate.emulator.sendToApp(payload, { timestampSec: now - 1 })]);
    expect([first.status, second.status]).toEqual([200, 200]);
    await waitFor('one ephemeral reply', () => gate.emulator.ephemeralsFor('U0ALICE').length === 1);
    expect(gate.emulator.ephemeralsFor('U0ALICE')[0]).toContain('Already approved by <@U0ALICE>');
    expect(await decisions(gate)).toHaveLength(1);
  });

  it('with APPROVERS set, anyone else is refused and nothing changes', async () => {
    const gate = await openGate({ env: { APPROVERS: 'U0ALICE, U0BOB' } });
    const { card } = await cardFor(gate);
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0MALLORY' });
    const [reply] = await waitFor('the refusal', () => gate.emulator.ephemeralsFor('U0MALLORY').length > 0 && gate.emulator.ephemeralsFor('U0MALLORY'));
    expect(reply).toContain('You are not one of the approvers');
    expect(await decisions(gate)).toEqual([]);
    expect(hasButtons(current_(gate, card))).toBe(true);
    await gate.bot.waitForLog((l) => l.msg === 'click refused' && l.reason === 'unauthorized' && l.user === 'U0MALLORY');

    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0BOB' });
    await waitFor('the approver’s decision', async () => (await decisions(gate)).length === 1);
  });

  it('warns at start-up when anyone may decide, saying how to fix it where it was said', async () => {
    const gate = await openGate();
    expect(gate.bot.logs).toContainEqual(
      expect.objectContaining({ level: 40, msg: 'route "default" lets anyone who can see a card approve or deny it (set APPROVERS to the Slack user IDs who may decide)' }),
    );
    const routed = await openGate({ env: { APPROVERS: '', APPROVALS_CHANNEL: '', APPROVALS_CONFIG: 'examples/sandbox.yml' } });
    expect(routed.bot.logs).toContainEqual(
      expect.objectContaining({ level: 40, msg: 'route "default" lets anyone who can see a card approve or deny it (list its approvers in examples/sandbox.yml)' }),
    );
  });

  it('a click whose button names another card of the approval decides nothing', async () => {
    const gate = await openGate();
    const { card } = await cardFor(gate);
    const tamper = (payload: Record<string, unknown>) => {
      const [action] = payload.actions as { value: string }[];
      action!.value = JSON.stringify({ ...JSON.parse(action!.value), c: 'an-old-card' });
      return payload;
    };
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE', payload: tamper });
    const [reply] = await waitFor('the refusal', () => gate.emulator.ephemeralsFor('U0ALICE').length > 0 && gate.emulator.ephemeralsFor('U0ALICE'));
    expect(reply).toContain('This card is out of date');
    expect(await decisions(gate)).toEqual([]);
  });

  it('when chat.update fails, the card is updated through the response_url', async () => {
    const gate = await openGate();
    const { card } = await cardFor(gate);
    gate.emulator.injectFaults('chat.update', { error: 'cant_update_message' });
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const updated = await waitFor('the card update', () => current_(gate, card)?.edited && current_(gate, card));
    expect(JSON.stringify(updated.blocks)).toContain('*Approved* by <@U0ALICE>');
    expect(gate.emulator.responses).toContainEqual(expect.objectContaining({ body: expect.objectContaining({ replace_original: true }) }));
  });
});
