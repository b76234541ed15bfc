import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE } from '../../src/views/cards.js';
import { createAudit } from '../../src/store/audit.js';
import { assessIdentity, type SlackIdentity } from '../../src/domain/identity.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();

/** A gate whose one route lists every test user as an approver, so only identity rules refuse. */
async function openGate(routeKeys: string[] = []): Promise<Gate> {
  const file = join(mkdtempSync(join(tmpdir(), 'identity-')), 'approvals.yml');
  writeFileSync(file, ['routes:', '  - name: all', '    channel: C0APPROVALS', '    approvers: [U0ALICE, U0GUEST, U0BOT, U0GONE, U0PARTNER]', ...routeKeys].join('\n'));
  const gate = await gates.open({ env: { APPROVALS_CONFIG: file, APPROVALS_CHANNEL: '' } });
  const team = gate.emulator.teamId;
  gate.emulator.addUser({ id: 'U0GUEST', username: 'guest', team_id: team, is_restricted: true });
  gate.emulator.addUser({ id: 'U0BOT', username: 'deploybot', team_id: team, is_bot: true });
  gate.emulator.addUser({ id: 'U0GONE', username: 'gone', team_id: team, deleted: true });
  gate.emulator.addUser({ id: 'U0PARTNER', username: 'partner', team_id: 'T0PARTNER' });
  return gate;
}

async function clickAs(g: Gate, user: string) {
  const { card } = await g.post();
  await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user });
  return waitFor(`the reply to ${user}`, () => g.emulator.ephemeralsFor(user)[0]);
}

describe('who clicked, as Slack says', () => {
  it.each([
    ['a guest', 'U0GUEST', 'Guests cannot decide approvals on this route'],
    ['a bot', 'U0BOT', 'Bots and apps cannot decide approvals'],
    ['a deactivated account', 'U0GONE', 'This account is deactivated'],
    ['someone from another workspace', 'U0PARTNER', 'People from other workspaces cannot decide approvals here'],
  ])('%s is refused even when listed as an approver', async (_who, user, reply) => {
    const g = await openGate();
    expect(await clickAs(g, user)).toContain(reply);
    expect(await g.decisions()).toEqual([]);
    await g.bot.waitForLog((l) => l.msg === 'click refused' && l.user === user);
  });

  it('decided_by carries the email when the app may read emails (users:read.email), and none otherwise', async () => {
    const g = await openGate(['    allow_external_teams: [T0PARTNER]']);
    g.emulator.addUser({ id: 'U0ALICE', username: 'alice', team_id: g.emulator.teamId, email: 'alice@example.com' });
    g.emulator.addUser({ id: 'U0PARTNER', username: 'partner', team_id: 'T0PARTNER', email: 'pat@partner.example' });
    const decide = async (user: string, count: number) => {
      const { card } = await g.post();
      await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user });
      return (await waitFor(`decision ${count}`, async () => (await g.decisions()).length === count && g.decisions())).find((d) => d.decided_by.id === user)!;
    };
    expect((await decide('U0ALICE', 1)).decided_by).toEqual({ id: 'U0ALICE', name: 'alice', team_id: g.emulator.teamId });
    g.emulator.emailScope = true;
    expect((await decide('U0PARTNER', 2)).decided_by).toEqual({ id: 'U0PARTNER', name: 'partner', team_id: 'T0PARTNER', email: 'pat@partner.example' });
  });

  it('counts every refusal by reason, and every decision, at /metrics', async () => {
    const g = await openGate();
    await clickAs(g, 'U0GUEST');
    await clickAs(g, 'U0PARTNER');
    const { card } = await g.post();
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the decision', async () => (await g.decisions()).length === 1);
    const response = await fetch(`http://127.0.0.1:${g.env.PORT}/metrics`);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toContain('approval_gate_refusals_total{reason="guest",action="approve"} 1');
    expect(text).toContain('approval_gate_refusals_total{reason="external_team",action="approve"} 1');
    expect(text).toContain('approval_gate_decisions_total{decision="approved"} 1');
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('a route may allow guests and named external teams', async () => {
    const g = await openGate(['    allow_guests: true', '    allow_external_teams: [T0PARTNER]']);
    const { card } = await g.post();
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0PARTNER' });
    const [decision] = await waitFor('the decision', async () => (await g.decisions()).length > 0 && g.decisions());
    expect(decision!.decided_by).toEqual({ id: 'U0PARTNER', name: 'partner', team_id: 'T0PARTNER' });
  });

  it('names come from users.info, not from the payload', async () => {
    const g = await openGate();
    const { card } = await g.post();
    const spoofed = g.emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    Object.assign(spoofed.user as object, { username: 'the-ceo', name: 'the-ceo' });
    await g.emulator.sendToApp(spoofed);
    const [decision] = await waitFor('the decision', async () => (await g.decisions()).length > 0 && g.decisions());
    expect(decision!.decided_by.name).toBe('alice');
  });

  it('an account deactivated after a click cannot approve another card 10 seconds later', async () => {
    const g = await openGate();
    const first = await g.post();
    await g.emulator.click({ channel: first.card.channel, ts: first.card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the first decision', async () => (await g.decisions()).length === 1);
    const clickedAt = Date.now();
    const second = await g.post();
    g.emulator.addUser({ id: 'U0ALICE', username: 'alice', team_id: g.emulator.teamId, deleted: true });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, clickedAt + 10_000 - Date.now())));
    await g.emulator.click({ channel: second.card.channel, ts: second.card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    expect(await waitFor('the refusal', () => g.emulator.ephemeralsFor('U0ALICE')[0])).toContain('This account is deactivated');
    expect((await g.decisions()).map((d) => d.run_id)).toEqual([first.request.run_id]);
  }, 45_000);

  it('when users.info cannot be reached, nothing is decided and the reviewer is told', async () => {
    const g = await openGate();
    const { request, card } = await g.post();
    g.emulator.injectFaults('users.info', { status: 503 });
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    expect(await waitFor('the reply', () => g.emulator.ephemeralsFor('U0ALICE')[0])).toContain('Could not verify who you are with Slack');
    expect(await g.decisions()).toEqual([]);
    const audit = createAudit(g.redis, { key: `${g.env.STATE_PREFIX}:audit`, maxLen: 1000 });
    const refused = await waitFor('the audit entry', async () => (await audit.trail(String(request.run_id))).find((e) => e.event === 'refused'));
    expect(refused).toMatchObject({ actor: 'U0ALICE', detail: { reason: 'unverified', action: 'approve' } });
  });
});

describe('identity rules', () => {
  const person: SlackIdentity = { id: 'U1', teamId: 'T0HOME', name: 'p', isGuest: false, isBot: false, deleted: false };
  const route = { allow_guests: false, allow_external_teams: [] as string[] };
  it.each<[string, Partial<SlackIdentity>, Partial<typeof route>, string | undefined]>([
    ['a member of the workspace may decide', {}, {}, undefined],
    ['a bot may not, whatever the route says', { isBot: true }, { allow_guests: true }, 'bot'],
    ['a deactivated account may not', { deleted: true }, {}, 'deactivated'],
    ['a guest may not by default', { isGuest: true }, {}, 'guest'],
    ['a guest may where the route allows guests', { isGuest: true }, { allow_guests: true }, undefined],
    ['another workspace may not by default', { teamId: 'T0OTHER' }, {}, 'external_team'],
    ['another workspace may where the route lists it', { teamId: 'T0OTHER' }, { allow_external_teams: ['T0OTHER'] }, undefined],
  ])('%s', (_what, who, routeKeys, expected) => {
    expect(assessIdentity({ ...person, ...who }, 'T0HOME', { ...route, ...routeKeys })).toBe(expected);
  });
});
