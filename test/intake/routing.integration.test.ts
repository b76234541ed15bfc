import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { ACTION_APPROVE, ACTION_DENY } from '../../src/views/cards.js';
import type { Decision } from '../../src/domain/contract.js';
import { SIGNING_SECRET, useGates, type Gate } from '../helpers/gate.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { waitFor } from '../helpers/wait.js';

const SNAPSHOT = '7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c';

const gates = useGates();
const openGate = () => gates.open({ env: { APPROVALS_CONFIG: 'examples/approvals.yml', APPROVALS_CHANNEL: '' } });

async function cardFor(g: Gate, overrides: Record<string, unknown>) {
  const request = validRequest({ policy_snapshot: SNAPSHOT, ...overrides });
  await g.finished(await g.requests.add('request', request));
  const card = g.cardsFor(request)[0];
  if (!card) throw new Error('no card');
  return { request, card };
}

async function decisions(g: Gate): Promise<Decision[]> {
  return (await g.resume.getJobs(['wait', 'completed'])).map((job) => job.data as Decision);
}

const click = (g: Gate, card: { channel: string; ts: string }, user: string, actionId = ACTION_APPROVE) => g.emulator.click({ channel: card.channel, ts: card.ts, actionId, user });
const lastReplyTo = (g: Gate, user: string, count: number) => waitFor(`reply ${count} to ${user}`, () => g.emulator.ephemeralsFor(user).length >= count && g.emulator.ephemeralsFor(user)[count - 1]);

describe('routing', () => {
  it('sends each request to its route’s channel and mentions the route’s people', async () => {
    const g = await openGate();
    const prod = await cardFor(g, { risk_tags: ['prod', 'write'] });
    expect(prod.card.channel).toBe('C0PRODAPPROVALS');
    expect(prod.card.text).toMatch(/^<!subteam\^S0ONCALL> Approval needed/);
    expect(JSON.stringify(prod.card.blocks)).toContain('*For:* <!subteam^S0ONCALL>');
    const other = await cardFor(g, { risk_tags: ['network'] });
    expect(other.card.channel).toBe('C0APPROVALS');
    const incident = await cardFor(g, { risk_tags: ['prod', 'write'], channel: 'C0INCIDENT42' });
    expect(incident.card.channel).toBe('C0INCIDENT42');
  });

  it('a route with confirm: dialog puts Slack’s confirmation on Approve, naming the run, step and impact', async () => {
    const g = await openGate();
    const { card, request } = await cardFor(g, { risk_tags: ['prod', 'write'] });
    const approve = (card.blocks.at(-1) as { elements: { action_id: string; confirm?: { text: { text: string } } }[] }).elements.find((e) => e.action_id === ACTION_APPROVE);
    expect(approve?.confirm?.text.text).toMatch(new RegExp(`^Approve a prod write action on ${String(request.run_id)}/remediate\\?`));
    const other = await cardFor(g, { risk_tags: ['network'] });
    expect(JSON.stringify(other.card.blocks)).not.toContain('"confirm"');
  });

  it('more approvals for some tags: a prod schema write needs two', async () => {
    const g = await openGate();
    const { card } = await cardFor(g, { risk_tags: ['prod', 'write', 'schema'] });
    expect(JSON.stringify(card.blocks)).toContain('*Approvals:* 0 of 2');
    await click(g, card, 'U0ALICE');
    expect(await lastReplyTo(g, 'U0ALICE', 1)).toContain('Your approval is counted: 1 of 2');
    await click(g, card, 'U0CAROL');
    await waitFor('the decision', async () => (await decisions(g)).length === 1);
  });

  it('only the route’s approvers decide: members of its user groups and the users it lists', async () => {
    const g = await openGate();
    const { card } = await cardFor(g, { risk_tags: ['prod', 'write'] });
    await click(g, card, 'U0MALLORY');
    expect(await lastReplyTo(g, 'U0MALLORY', 1)).toContain('You are not one of the approvers');
    expect(await decisions(g)).toEqual([]);
    await click(g, card, 'U0BOB');
    await waitFor('the decision', async () => (await decisions(g)).length === 1);
    expect((await decisions(g))[0]).toMatchObject({ decision: 'approved', decided_by: { id: 'U0BOB' } });
  });

  it('the person who started the run cannot approve it', async () => {
    const g = await openGate();
    const { card } = await cardFor(g, { risk_tags: ['prod', 'write'], initiated_by: 'U0ALICE' });
    await click(g, card, 'U0ALICE');
    expect(await lastReplyTo(g, 'U0ALICE', 1)).toContain('You started this run, so you cannot approve it');
    expect(await decisions(g)).toEqual([]);
    await g.bot.waitForLog((l) => l.msg === 'click refused' && l.reason === 'self_approval');
  });

  it('2 of 3: one person clicking twice counts once, the card shows progress, the second approver approves', async () => {
    const g = await openGate();
    const { card } = await cardFor(g, { risk_tags: ['secrets'] });
    expect(card.channel).toBe('C0SECURITY');
    expect(JSON.stringify(card.blocks)).toContain('*Approvals:* 0 of 2');

    await click(g, card, 'U0ALICE');
    expect(await lastReplyTo(g, 'U0ALICE', 1)).toContain('Your approval is counted: 1 of 2');
    const current = () => g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)!;
    await waitFor('the progress on the card', () => JSON.stringify(current().blocks).includes('*Approvals:* 1 of 2: <@U0ALICE>'));
    const threadReply = await waitFor('the reply in the card’s thread', () => g.emulator.messagesIn(card.channel).find((m) => m.thread_ts === card.ts));
    expect(threadReply.text).toBe(':ballot_box_with_check: <@U0ALICE> approved: 1 of 2');
    expect(JSON.stringify(current().blocks)).toContain(ACTION_APPROVE);

    await click(g, card, 'U0ALICE');
    expect(await lastReplyTo(g, 'U0ALICE', 2)).toContain('Your approval is already counted (1 of 2)');
    expect(await decisions(g)).toEqual([]);

    await click(g, card, 'U0CAROL');
    await waitFor('the decision', async () => (await decisions(g)).length === 1);
    const [decision] = await decisions(g);
    expect(decision).toMatchObject({ decision: 'approved', decided_by: { id: 'U0CAROL' } });
    expect(decision!.approvals!.map((v) => v.id)).toEqual(['U0ALICE', 'U0CAROL']);
    await waitFor('the decided card', () => JSON.stringify(current().blocks).includes('*Approved* (2 approvals) by <@U0ALICE>, <@U0CAROL>'));
  });

  it('a deny after one approval denies', async () => {
    const g = await openGate();
    const { card } = await cardFor(g, { risk_tags: ['secrets'] });
    await click(g, card, 'U0ALICE');
    await lastReplyTo(g, 'U0ALICE', 1);
    await click(g, card, 'U0BOB', ACTION_DENY);
    await waitFor('the decision', async () => (await decisions(g)).length === 1);
    expect((await decisions(g))[0]).toMatchObject({ decision: 'denied', decided_by: { id: 'U0BOB' } });
  });

  it('when the bot is not in the incident channel a request names, the card goes to the route’s channel with a note', async () => {
    const g = await openGate();
    const { card } = await cardFor(g, { risk_tags: ['prod', 'write'], channel: 'C0PRIVATE' });
    expect(card.channel).toBe('C0PRODAPPROVALS');
    expect(JSON.stringify(card.blocks)).toContain('Posted here because the bot could not post in <#C0PRIVATE> (not_in_channel)');
  });

  it('without a fallback, a card that cannot be posted fails the request with Slack’s reason', async () => {
    const g = await openGate();
    const request = validRequest({ policy_snapshot: SNAPSHOT, risk_tags: ['network'], channel: 'C0PRIVATE' });
    const job = await g.finished(await g.requests.add('request', request));
    expect(job.failedReason).toContain('Slack refused the card: not_in_channel');
  });

  it('stops at start-up on an invalid routes file, naming the file and line', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'routes-')), 'approvals.yml');
    writeFileSync(file, 'routes:\n  - name: ops\n    channel: C0OPS\n');
    const bot = gates.bot({ SLACK_BOT_TOKEN: 'xoxb-x', SLACK_SIGNING_SECRET: SIGNING_SECRET, REDIS_URL: inject('redisUrl'), APPROVALS_CONFIG: file });
    expect(await bot.exited).toBe(1);
    expect(bot.stderr()).toContain(`approval-gate cannot start: APPROVALS_CONFIG is not valid:\n  ${file}:2:5: routes.0.approvers: required`);
  });
});
