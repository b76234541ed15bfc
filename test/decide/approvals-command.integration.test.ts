import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE } from '../../src/views/cards.js';
import { approvalIdOf, type Decision } from '../../src/domain/contract.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { waitFor } from '../helpers/wait.js';
import { approvals } from '../helpers/approvals-command.js';

const SNAPSHOT = '7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c';

const gates = useGates();

async function openGate(): Promise<Gate> {
  const gate = await gates.open({
    env: { APPROVALS_CONFIG: 'examples/approvals.yml', APPROVALS_CHANNEL: '' },
    channels: [
      { id: 'C0APPROVALS', name: 'approvals', botIsMember: true },
      { id: 'C0PRODAPPROVALS', name: 'prod-approvals', botIsMember: true },
      { id: 'C0SECURITY', name: 'security-approvals', botIsMember: true, isPrivate: true, members: ['U0ALICE', 'U0BOB', 'U0CAROL'] },
      { id: 'C0INCIDENT42', name: 'incident-42', botIsMember: true },
    ],
  });
  await gate.redis.set(gate.env.POLICY_SNAPSHOT_KEY!, SNAPSHOT);
  return gate;
}

async function post(g: Gate, count: number, overrides: Record<string, unknown> = {}) {
  const requests = Array.from({ length: count }, () => validRequest({ policy_snapshot: SNAPSHOT, ...overrides }));
  for (let i = 0; i < requests.length; i += 20) await g.requests.addBulk(requests.slice(i, i + 20).map((data) => ({ name: 'request', data })));
  // Cards to one channel go at Slack's pace, about one a second.
  await waitFor('the cards', () => requests.every((r) => g.cardsFor(r).length === 1), 30_000 + count * 1100);
  return requests;
}

describe('/approvals', () => {
  it('with nothing pending, says so plainly', async () => {
    const g = await openGate();
    expect((await approvals(g, 'U0ALICE')).text).toBe('No approvals are waiting.');
  });

  it('lists one pending approval with its details, a link to its card, and buttons that work like the card’s', async () => {
    const g = await openGate();
    const [request] = await post(g, 1, { risk_tags: ['network'], reason: 'open egress to api.vendor.example' });
    const list = await approvals(g, 'U0BOB');
    const text = JSON.stringify(list.blocks);
    expect(text).toContain('1 approval waiting');
    expect(text).toContain('open egress to api.vendor.example');
    expect(text).toContain('`network`');
    expect(text).toMatch(/expires in 2\dh|expires in 1d/);
    expect(text).toContain('|open the card>');

    await g.emulator.clickInEphemeral({ user: 'U0BOB', actionId: ACTION_APPROVE, approvalId: approvalIdOf(request as { run_id: string; step_id: string }) });
    await waitFor('the decision', async () => (await g.resume.getJobs(['wait'])).length === 1);
    expect(((await g.resume.getJobs(['wait']))[0]!.data as Decision).decided_by.id).toBe('U0BOB');
    const card = g.cardsFor(request!)[0]!;
    await waitFor('the card update', () => JSON.stringify(g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)!.blocks).includes('*Approved* by <@U0BOB>'));
  });

  it('with 60 pending, shows the 15 most urgent and how to narrow down', async () => {
    const g = await openGate();
    // In two channels, so that the cards take half as long at Slack's pace of a message a second per channel.
    await Promise.all([post(g, 30, { risk_tags: ['network'] }), post(g, 30, { risk_tags: ['network'], channel: 'C0INCIDENT42' })]);
    const list = await approvals(g, 'U0ALICE');
    expect(JSON.stringify(list.blocks)).toContain('60 approvals waiting*, the 15 most urgent');
    expect(JSON.stringify(list.blocks.at(-1))).toContain('…and 45 more');
  }, 120_000);

  it('filters by risk tag, by channel, and to those the caller may approve', async () => {
    const g = await openGate();
    await post(g, 2, { risk_tags: ['prod', 'write'] });
    await post(g, 1, { risk_tags: ['prod', 'write'], initiated_by: 'U0BOB' });
    await post(g, 1, { risk_tags: ['network'], channel: 'C0INCIDENT42' });
    expect(JSON.stringify((await approvals(g, 'U0ALICE', 'write')).blocks)).toContain('3 approvals waiting tagged `write`');
    // Typed as a person types it: Slack escapes the channel (the command has should_escape on).
    expect(JSON.stringify((await approvals(g, 'U0ALICE', '#incident-42')).blocks)).toContain('1 approval waiting in <#C0INCIDENT42>');
    // prod-writes: approvers are the on-call group (alice, bob) and carol; bob started one of them.
    expect(JSON.stringify((await approvals(g, 'U0BOB', 'mine write')).blocks)).toContain('2 approvals waiting for you to decide tagged `write`');
    // Mallory is no prod-writes approver; the default route lets anyone decide the network one.
    expect((await approvals(g, 'U0MALLORY', 'mine')).text).toBe('1 approval waiting for you to decide');
    expect((await approvals(g, 'U0MALLORY', 'mine write')).text).toBe('No approvals are waiting for you to decide tagged `write`.');
  });

  it('mine leaves out what the caller could not decide for who they are: a guest sees the approval but not as theirs', async () => {
    const g = await openGate();
    g.emulator.addUser({ id: 'U0MALLORY', username: 'mallory', team_id: g.emulator.teamId, is_restricted: true });
    await post(g, 1, { risk_tags: ['network'] });
    expect((await approvals(g, 'U0MALLORY')).text).toBe('1 approval waiting');
    expect((await approvals(g, 'U0MALLORY', 'mine')).text).toBe('No approvals are waiting for you to decide.');
  });

  it('does not show cards in private channels to people outside them', async () => {
    const g = await openGate();
    await post(g, 1, { risk_tags: ['secrets'] });
    expect((await approvals(g, 'U0MALLORY')).text).toBe('No approvals are waiting.');
    expect(JSON.stringify((await approvals(g, 'U0CAROL')).blocks)).toContain('1 approval waiting');
  });

  it('explains itself', async () => {
    const g = await openGate();
    expect((await approvals(g, 'U0ALICE', 'help')).text).toContain('`/approvals mine`: only those you may approve');
  });
});
