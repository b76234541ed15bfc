import { WebClient } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import { approvalIdOf } from '../../src/domain/contract.js';
import { ACTION_APPROVE, ACTION_DENY, CARD_EVENT_TYPE } from '../../src/views/cards.js';
import type { MessageAuthor } from '../../sandbox/workspace.js';
import { waitFor } from '../helpers/wait.js';
import { APPROVALS_CHANNEL, BOT_TOKEN, SIGNING_SECRET, useGates } from '../helpers/gate.js';
import { validRequest } from '../../sandbox/valid-request.js';

const gates = useGates();
const openGate = () => gates.open();

describe('request intake', () => {
  it('a valid request gives exactly one card with every field', async () => {
    const gate = await openGate();
    const request = validRequest({ run_id: 'run_8f9a', workflow: 'incident-triage', step_id: 'remediate', reason: 'prod write detected' });
    const job = await gate.requests.add('request', request);

    expect((await gate.finished(job)).returnvalue).toMatchObject({ outcome: 'posted', channel: APPROVALS_CHANNEL });
    const cards = gate.cardsFor(request);
    expect(cards).toHaveLength(1);
    const json = JSON.stringify(cards[0]!.blocks);
    for (const shown of ['incident-triage', 'remediate', 'prod write detected', '`prod`', '`write`', '`max_lines_changed` 500', '`max_runtime_sec` 900', 'workflow.incident-triage', 'prod-writes-need-approval', 'run_8f9a', 'Policy snapshot `7f3d1a2b9c0e`', 'Job hash `', ACTION_APPROVE, ACTION_DENY]) {
      expect(json).toContain(shown);
    }
    expect(cards[0]!.text).toContain('prod write detected');
    const line = await gate.bot.waitForLog((l) => l.msg === 'card posted');
    expect(line).toMatchObject({ run_id: 'run_8f9a', step_id: 'remediate', outcome: 'posted', channel: APPROVALS_CHANNEL, ts: cards[0]!.ts });
  });

  it('fails an invalid request at once, naming each bad field, and posts nothing; the next valid one goes through', async () => {
    const gate = await openGate();
    const invalid: [string, unknown, string[]][] = [
      ['request', validRequest({ reason: undefined, risk_tags: 'prod' }), ['reason: required', 'risk_tags: must be an array of strings']],
      ['request', validRequest({ policy_snapshot: 'zzz' }), ['policy_snapshot: must be a hex string']],
      ['request', validRequest({ job: { a: 1 }, job_hash: 'sha256:' + '0'.repeat(64) }), ['job_hash: does not match job']],
      ['request', 'not an object', ['request: must be a JSON object']],
      ['approve-me', validRequest(), ['unknown job name "approve-me"']],
    ];
    const jobs = await Promise.all(invalid.map(([name, data]) => gate.requests.add(name, data, { attempts: 5, backoff: 10 })));
    for (const [index, job] of jobs.entries()) {
      const done = await gate.finished(job);
      expect(await done.getState()).toBe('failed');
      expect(done.attemptsMade).toBe(1);
      for (const expected of invalid[index]![2]) expect(done.failedReason).toContain(expected);
    }
    const valid = validRequest();
    await gate.finished(await gate.requests.add('request', valid));
    expect(gate.emulator.callsOf('chat.postMessage')).toHaveLength(1);
    expect(gate.cardsFor(valid)).toHaveLength(1);
    expect(gate.bot.logs.filter((l) => l.msg === 'request rejected')).toHaveLength(4);
  });

  it('the same request delivered many times, concurrently, gives one card', async () => {
    const gate = await openGate();
    const request = validRequest();
    const jobs = await Promise.all([
      ...Array.from({ length: 8 }, () => gate.requests.add('request', request)),
      ...Array.from({ length: 3 }, () => gate.requests.add('request', request, { jobId: 'same-delivery' })),
    ]);
    const outcomes = await Promise.all(jobs.map(async (job) => (await gate.finished(job)).returnvalue as { outcome: string; ts: string }));
    expect(gate.cardsFor(request)).toHaveLength(1);
    expect(gate.emulator.callsOf('chat.postMessage')).toHaveLength(1);
    expect(new Set(outcomes.map((o) => o.ts)).size).toBe(1);
    expect(outcomes.filter((o) => o.outcome === 'posted')).toHaveLength(1);

    await gate.finished(await gate.requests.add('request', request));
    expect(gate.cardsFor(request)).toHaveLength(1);
  });

  it('renders hostile text literally: no one is pinged and no link is hidden', async () => {
    const gate = await openGate();
    const request = validRequest({
      reason: '<!channel> urgent: <https://evil.example|approve here> & <@U0ADMIN> <!subteam^S0ONCALL>',
      requested_by: '<@U0CEO>',
      workflow: '<!here>',
      constraints: { '<!everyone>': '<http://x|y>' },
    });
    await gate.finished(await gate.requests.add('request', request));
    const [card] = gate.cardsFor(request);
    const everything = JSON.stringify(card);
    // The card's own markup (the expiry's <!date…>) aside, nothing from the request is live.
    for (const injected of ['<!channel>', '<https://evil', '<@U0ADMIN>', '<!subteam^S0ONCALL>', '<@U0CEO>', '<!here>', '<!everyone>', '<http://x']) {
      expect(everything).not.toContain(injected);
    }
    expect(everything).toContain('&lt;!channel&gt; urgent: &lt;https://evil.example|approve here&gt; &amp; &lt;@U0ADMIN&gt;');
  });

  it('oversized fields give a card that Slack accepts, cut where they had to be', async () => {
    const gate = await openGate();
    const request = validRequest({
      reason: 'R'.repeat(10_000),
      workflow: 'W'.repeat(200),
      step_id: 'S'.repeat(200),
      risk_tags: Array.from({ length: 32 }, (_, i) => `tag-${i}-${'t'.repeat(56)}`),
      constraints: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}${'k'.repeat(97)}`, 'v'.repeat(1000)])),
    });
    const job = await gate.finished(await gate.requests.add('request', request));
    expect(job.returnvalue).toMatchObject({ outcome: 'posted' });
    const json = JSON.stringify(gate.cardsFor(request)[0]!.blocks);
    expect(json).toContain('…');
    expect(json).toMatch(/_and \d+ more_/);
  });

  it('posts into the thread a request names, in the channel it names', async () => {
    const gate = await openGate();
    const slack = new WebClient(BOT_TOKEN, { slackApiUrl: gate.emulator.apiUrl });
    const parent = await slack.chat.postMessage({ channel: 'C0INCIDENT42', text: 'incident 42 opened' });
    const request = validRequest({ channel: 'C0INCIDENT42', thread_ts: parent.ts });
    await gate.finished(await gate.requests.add('request', request));
    expect(gate.cardsFor(request)).toEqual([expect.objectContaining({ channel: 'C0INCIDENT42', thread_ts: parent.ts })]);
  });

  it('rides out Slack answering 5xx, then 429 with Retry-After, and posts the card once', async () => {
    const gate = await openGate();
    gate.emulator.injectFaults('chat.postMessage', { status: 503 }, { status: 429, retryAfterSec: 2 });
    const request = validRequest();
    const job = await gate.finished(await gate.requests.add('request', request));
    expect(job.returnvalue).toMatchObject({ outcome: 'posted' });
    const calls = gate.emulator.callsOf('chat.postMessage');
    expect(calls.map((c) => c.answered)).toEqual(['HTTP 503', 'HTTP 429', 'ok']);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(1900);
    expect(gate.cardsFor(request)).toHaveLength(1);
    // Slack's faults spent none of the engine's attempts: the one counted is the one that succeeded.
    expect(job.attemptsMade).toBe(1);
  });

  it('when Slack posted the card but the answer was lost, the retry finds it instead of posting again', async () => {
    const gate = await openGate();
    gate.emulator.injectFaults('chat.postMessage', { status: 502, applyFirst: true });
    const request = validRequest();
    const job = await gate.finished(await gate.requests.add('request', request));
    expect(job.returnvalue).toMatchObject({ outcome: 'recovered' });
    expect(gate.cardsFor(request)).toHaveLength(1);
    expect(gate.emulator.callsOf('conversations.history')).toHaveLength(1);
  });

  it.each<[string, MessageAuthor]>([
    ['another app', { bot_id: 'B0OTHERAPP', app_id: 'A0OTHERAPP', user: 'U0OTHERBOT' }],
    ['a person', { user: 'U0MALLORY' }],
  ])('a message %s posted with the card’s metadata is not taken for the card: the retry posts the real one', async (_who, author) => {
    const gate = await openGate();
    // The first post fails after 1.5 s without posting, so the retry looks for a card it may have posted.
    gate.emulator.injectFaults('chat.postMessage', { status: 502, delayMs: 1500 });
    const request = validRequest();
    const id = approvalIdOf(request as { run_id: string; step_id: string });
    const added = await gate.requests.add('request', request);
    const cardId = await waitFor('the claim', () => gate.redis.hget(`${gate.env.STATE_PREFIX}:approval:${id}`, 'card_id'));
    const forged = gate.emulator.postAs(author, {
      channel: APPROVALS_CHANNEL,
      text: 'Approval needed',
      metadata: JSON.stringify({ event_type: CARD_EVENT_TYPE, event_payload: { approval_id: id, card_id: cardId } }),
    });

    const job = await gate.finished(added);
    expect(gate.emulator.callsOf('conversations.history').length).toBeGreaterThanOrEqual(1);
    expect(job.returnvalue).toMatchObject({ outcome: 'posted', channel: APPROVALS_CHANNEL });
    expect(job.returnvalue.ts).not.toBe(forged.ts);
    const cards = gate.cardsFor(request);
    expect(cards.map((card) => card.ts)).toEqual([job.returnvalue.ts]);
    expect(JSON.stringify(cards[0]!.blocks)).toContain(ACTION_APPROVE);
  });

  it.each([
    ['an unknown channel', 'C0GONE', 'channel_not_found'],
    ['a channel the bot is not in', 'C0PRIVATE', 'not_in_channel'],
  ])('fails with Slack’s error when the card goes to %s, and works once the cause is fixed', async (_what, channel, error) => {
    const gate = await openGate();
    const request = validRequest({ channel });
    const failed = await gate.finished(await gate.requests.add('request', request));
    expect(await failed.getState()).toBe('failed');
    expect(failed.failedReason).toContain(`Slack refused the card: ${error}`);
    await gate.bot.waitForLog((l) => l.msg === 'Slack refused the card' && l.slack_error === error && l.run_id === request.run_id);

    gate.emulator.addChannel({ id: channel, name: 'fixed', botIsMember: true });
    const retried = await gate.finished(await gate.requests.add('request', request));
    expect(retried.returnvalue).toMatchObject({ outcome: 'posted', channel });
  });

  it('logs no secret', async () => {
    const gate = await openGate();
    await gate.finished(await gate.requests.add('request', validRequest()));
    const output = JSON.stringify(gate.bot.logs) + gate.bot.stderr();
    expect(output).not.toContain(BOT_TOKEN);
    expect(output).not.toContain(SIGNING_SECRET);
  });

  it('finished jobs do not pile up on the request queue: at most 1,000 completed ones are kept, the newest', async () => {
    const gate = await openGate();
    // Cancels for steps never requested complete at once and post nothing: a cheap stand-in for
    // any finished job; requests follow the same rule.
    const cancels = Array.from({ length: 1_010 }, (_, i) => ({ name: 'cancel', data: { run_id: `run_keep_${i}`, step_id: 'deploy', reason: 'not needed' } }));
    const jobs = await gate.requests.addBulk(cancels);
    await gate.finished(jobs.at(-1)!, 60_000);
    await waitFor('every cancel to finish', async () => (await gate.requests.getJobCountByTypes('wait', 'active')) === 0, 60_000);
    const request = validRequest();
    await gate.finished(await gate.requests.add('request', request));
    expect(await gate.requests.getCompletedCount()).toBeLessThanOrEqual(1_000);
    expect(await gate.requests.getJob(jobs[0]!.id!)).toBeUndefined();
  }, 90_000);
});

