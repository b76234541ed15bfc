import { describe, expect, it } from 'vitest';
import { APPROVALS_CHANNEL, useGates } from '../helpers/gate.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { waitFor } from '../helpers/wait.js';
import { freePort } from '../../sandbox/free-port.js';

/**
 * Slack allows about one message a second per channel (the emulator enforces it, with a burst of 3,
 * and answers 429 with Retry-After over it). Waiting for Slack is never a failure: every card is
 * posted, in the order its request was enqueued, at the pace Slack allows.
 */

const gates = useGates();
const SLACK_PACE = { perSecond: 1, burst: 3 };

describe('pacing posts to Slack', () => {
  it('sixty requests to one channel at once all get their card, once each, in enqueue order, with few 429s', async () => {
    const g = await gates.open({ channelRateLimit: SLACK_PACE });
    const requests = Array.from({ length: 60 }, (_, i) => validRequest({ run_id: `run_pace_${i}`, step_id: 'deploy' }));
    const jobs = await g.requests.addBulk(requests.map((data) => ({ name: 'request', data })));
    const finished = await Promise.all(jobs.map((job) => g.finished(job, 150_000)));

    expect(finished.filter((job) => job.failedReason !== undefined).map((job) => job.failedReason)).toEqual([]);
    const cards = finished.map((job) => job.returnvalue as { outcome: string; channel: string; ts: string });
    expect(cards.every((card) => card.outcome === 'posted' && card.channel === APPROVALS_CHANNEL)).toBe(true);
    for (const request of requests) expect(g.cardsFor(request)).toHaveLength(1);
    // Enqueue order is card order: each card's ts is later than the one enqueued before it.
    const ts = cards.map((card) => Number(card.ts));
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
    const posts = g.emulator.callsOf('chat.postMessage');
    expect(posts.filter((call) => call.answered === 'ok')).toHaveLength(60);
    expect(posts.filter((call) => call.answered === 'HTTP 429').length).toBeLessThanOrEqual(3);
    // Waiting for a turn is logged at debug level: a card costs a line or two at info and above.
    const lines = g.bot.logs.filter((line) => line.level >= 30 && String(line.run_id ?? '').startsWith('run_pace_'));
    expect(lines.length).toBeLessThanOrEqual(2 * 60);
  }, 180_000);

  it('a posted card gives its turn up at once, so a 429 soon after it does not keep it in the channel as a call in flight', async () => {
    const g = await gates.open({ channelRateLimit: SLACK_PACE });
    const job = await g.finished(await g.requests.add('request', validRequest({ run_id: 'run_turn_given_up' })));
    expect(job.returnvalue).toMatchObject({ outcome: 'posted' });
    const turns = await g.redis.zrange(`${g.env.STATE_PREFIX}:turns:chat.postMessage:${APPROVALS_CHANNEL}`, 0, -1);
    expect(turns).not.toContain(String(job.id));
  });

  it('more 429s in a row than the failures a request may have still end in its card, not a failure', async () => {
    const g = await gates.open();
    g.emulator.injectFaults('chat.postMessage', ...Array.from({ length: 25 }, () => ({ status: 429, retryAfterSec: 0 })));
    const request = validRequest();
    const job = await g.finished(await g.requests.add('request', request), 60_000);
    expect(job.failedReason).toBeUndefined();
    expect(job.returnvalue).toMatchObject({ outcome: 'posted' });
    expect(g.cardsFor(request)).toHaveLength(1);
    expect(g.emulator.callsOf('chat.postMessage').map((call) => call.answered).filter((a) => a === 'HTTP 429')).toHaveLength(25);
  }, 90_000);

  it('429s on the read that looks for a card an earlier attempt may have posted are not failures either', async () => {
    const g = await gates.open();
    // A 5xx leaves the outcome unknown: the next attempts first look for the card.
    g.emulator.injectFaults('chat.postMessage', { status: 503 });
    g.emulator.injectFaults('conversations.history', ...Array.from({ length: 25 }, () => ({ status: 429, retryAfterSec: 0 })));
    const request = validRequest();
    const job = await g.finished(await g.requests.add('request', request), 60_000);
    expect(job.failedReason).toBeUndefined();
    expect(g.cardsFor(request)).toHaveLength(1);
    expect(g.emulator.callsOf('conversations.history').filter((call) => call.answered === 'HTTP 429')).toHaveLength(25);
  }, 90_000);

  it('a 429 holds the channel for every replica until its Retry-After has passed; other channels go on', async () => {
    const g = await gates.open({ channelRateLimit: SLACK_PACE });
    const HOLD_MS = 12_000;
    g.emulator.injectFaults('chat.postMessage', { status: 429, retryAfterSec: HOLD_MS / 1000, match: { channel: APPROVALS_CHANNEL } });
    const first = await g.requests.add('request', validRequest({ run_id: 'run_held_0' }));
    const refused = await waitFor('the 429', () => g.emulator.callsOf('chat.postMessage').find((call) => call.answered === 'HTTP 429'));
    // The first replica has put the hold in Redis (a replica killed before that leaves nothing to honour).
    await g.bot.waitForLog((line) => String(line.msg).startsWith('Slack rate limited chat.postMessage:'));
    // The replica that was told to wait goes away; another one, which was never told, takes over.
    await g.bot.kill();
    const second = await g.startAnother({ PORT: String(await freePort()) });
    // Still within the hold (a replica can take a few seconds to start on a busy machine).
    expect(Date.now() - refused.at).toBeLessThan(HOLD_MS - 2000);
    const later = await g.requests.addBulk(
      [1, 2, 3].map((i) => ({ name: 'request', data: validRequest({ run_id: `run_held_${i}` }) })),
    );
    const elsewhere = await g.requests.add('request', validRequest({ run_id: 'run_elsewhere', channel: 'C0INCIDENT42' }));
    const elsewhereDone = await g.finished(elsewhere);
    expect(elsewhereDone.finishedOn! - elsewhere.timestamp).toBeLessThan(HOLD_MS / 2);

    const done = await Promise.all([first, ...later].map((job) => g.finished(job, 60_000)));
    expect(done.map((job) => (job.returnvalue as { outcome?: string } | undefined)?.outcome)).toEqual(['posted', 'posted', 'posted', 'posted']);
    const afterRefusal = g.emulator.callsOf('chat.postMessage').filter((call) => call.args.channel === APPROVALS_CHANNEL && call.at > refused.at);
    expect(afterRefusal).toHaveLength(4);
    for (const call of afterRefusal) expect(call.at - refused.at).toBeGreaterThanOrEqual(HOLD_MS - 50);
    expect(second.logs.some((line) => line.msg === 'card posted')).toBe(true);
  }, 90_000);
});
