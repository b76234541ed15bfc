import { describe, expect, it } from 'vitest';
import { approvalIdOf, shortHash } from '../../src/domain/contract.js';
import { ACTION_APPROVE } from '../../src/views/cards.js';
import type { EmulatedMessage } from '../../sandbox/slack-emulator.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { waitFor } from '../helpers/wait.js';

const NEW_SNAPSHOT = 'abcdefabcdef0123456789';

const gates = useGates();
const openGate = () => gates.open();

const shown = (g: Gate, card: EmulatedMessage) => g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts);
const hasButtons = (message: EmulatedMessage | undefined) => JSON.stringify(message?.blocks ?? []).includes(ACTION_APPROVE);

describe('cancel', () => {
  it('closes the approval: the card says why and loses its buttons, no decision is pushed, later clicks are refused', async () => {
    const g = await openGate();
    const { request, card } = await g.post();
    // A reviewer who still has the card open clicks after the cancel.
    const lateClick = g.emulator.clickPayload({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const job = await g.finished(await g.requests.add('cancel', { run_id: request.run_id, step_id: 'remediate', reason: 'incident resolved' }));
    expect(job.returnvalue).toEqual({ outcome: 'cancelled' });
    const updated = await waitFor('the cancelled card', () => !hasButtons(shown(g, card)) && shown(g, card));
    expect(JSON.stringify(updated.blocks)).toContain(':no_entry_sign: *Cancelled* by the workflow');
    expect(JSON.stringify(updated.blocks)).toContain('incident resolved');

    await g.emulator.sendToApp(lateClick);
    const reply = await waitFor('the refusal', () => g.emulator.ephemeralsFor('U0ALICE')[0]);
    expect(reply).toContain('This approval was cancelled by the workflow (incident resolved)');
    expect(await g.decisions()).toEqual([]);
  });

  it('a cancel that comes before its request: the request posts no card', async () => {
    const g = await openGate();
    const request = validRequest();
    await g.finished(await g.requests.add('cancel', { run_id: request.run_id, step_id: request.step_id, reason: 'not needed' }));
    const job = await g.finished(await g.requests.add('request', request));
    expect(job.returnvalue).toEqual({ outcome: 'cancelled' });
    expect(g.cardsFor(request)).toEqual([]);
  });

  it('racing a click: either the decision or the cancellation, never both', async () => {
    const g = await openGate();
    for (let round = 0; round < 4; round += 1) {
      const { request, card } = await g.post();
      const repliesBefore = g.emulator.ephemeralsFor('U0ALICE').length;
      const [cancel] = await Promise.all([
        g.requests.add('cancel', { run_id: request.run_id, step_id: 'remediate', reason: 'race' }).then((job) => g.finished(job)),
        g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' }),
      ]);
      await waitFor('the click to be settled', async () =>
        g.emulator.ephemeralsFor('U0ALICE').length > repliesBefore || (await g.decisions()).some((d) => d.run_id === request.run_id),
      );
      const decided = (await g.decisions()).filter((d) => d.run_id === request.run_id);
      if (cancel.returnvalue.outcome === 'cancelled') expect(decided).toEqual([]);
      else expect([cancel.returnvalue.outcome, decided.length]).toEqual(['already_decided', 1]);
    }
  });

  it('a cancel that comes while the card is being posted: the card shows the cancellation once posted, without waiting for the outbox drain; the requester hears only of the cancellation', async () => {
    const g = await openGate();
    const request = validRequest({ run_id: 'run_cancel_mid_post', initiated_by: 'U0CAROL' });
    const record = `${g.env.STATE_PREFIX}:approval:${approvalIdOf({ run_id: 'run_cancel_mid_post', step_id: 'remediate' })}`;
    g.emulator.injectFaults('chat.postMessage', { delayMs: 1500 });
    const posting = await g.requests.add('request', request);
    await waitFor('the card to be claimed for posting', async () => (await g.redis.hexists(record, 'post_started')) === 1);
    const cancel = await g.finished(await g.requests.add('cancel', { run_id: 'run_cancel_mid_post', step_id: 'remediate', reason: 'not needed' }));
    expect(cancel.returnvalue).toEqual({ outcome: 'cancelled' });
    const { returnvalue } = await g.finished(posting);
    const card = { channel: returnvalue.channel as string, ts: returnvalue.ts as string } as EmulatedMessage;

    const updated = await waitFor('the cancelled card', () => !hasButtons(shown(g, card)) && shown(g, card));
    expect(JSON.stringify(updated.blocks)).toContain(':no_entry_sign: *Cancelled* by the workflow');
    // Settled by the delivery that posted it, at once: the drain (2 s later at the earliest) found nothing left.
    await new Promise((resolve) => setTimeout(resolve, 7000));
    expect(g.bot.logs.filter((line) => line.msg === 'settled an ending left unsettled')).toEqual([]);
    expect(await g.decisions()).toEqual([]);
    // Not "waiting for approval" after (or before) "cancelled": the card was never shown pending.
    expect(g.emulator.directMessagesTo('U0CAROL').map((m) => m.text)).toEqual([expect.stringContaining(':no_entry_sign: *Cancelled* by the workflow')]);
  });

  it('refuses a malformed cancel, naming the field', async () => {
    const g = await openGate();
    const job = await g.finished(await g.requests.add('cancel', { run_id: 'r' }));
    expect(job.failedReason).toContain('invalid cancel: step_id: required; reason: required');
  });
});

describe('supersede', () => {
  it('a new request for the same step with another job hash replaces the card; the old card refuses clicks', async () => {
    const g = await openGate();
    const { request, card: oldCard } = await g.post({ run_id: 'run_sup_1' });
    const clickOnOldCard = g.emulator.clickPayload({ channel: oldCard.channel, ts: oldCard.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const { request: newer, card: newCard } = await g.post({ run_id: 'run_sup_1', job: { sql: 'DELETE FROM sessions' } });
    expect(newCard.ts).not.toBe(oldCard.ts);
    const old = await waitFor('the superseded card', () => !hasButtons(shown(g, oldCard)) && shown(g, oldCard));
    expect(JSON.stringify(old.blocks)).toContain('*Superseded* by a newer request');
    expect(JSON.stringify(old.blocks)).toContain(String(request.job_hash).slice(7, 19));

    await g.emulator.sendToApp(clickOnOldCard);
    expect(await waitFor('the refusal', () => g.emulator.ephemeralsFor('U0ALICE')[0])).toContain('This card is out of date');
    await g.emulator.click({ channel: newCard.channel, ts: newCard.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the decision', async () => (await g.decisions()).length === 1);
    expect((await g.decisions())[0]).toMatchObject({ decision: 'approved', job_hash: newer.job_hash });
  });

  it('racing a click on the old card: the click decides the old request, or nothing', async () => {
    const g = await openGate();
    for (let round = 0; round < 4; round += 1) {
      const runId = `run_sup_race_${round}`;
      const { request, card } = await g.post({ run_id: runId });
      const newer = validRequest({ run_id: runId, job: { round, newer: true } });
      const [job] = await Promise.all([
        g.requests.add('request', newer).then((j) => g.finished(j)),
        g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0BOB' }),
      ]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const decided = (await g.decisions()).filter((d) => d.run_id === runId);
      if (job.failedReason) {
        expect(job.failedReason).toContain('already has an approval bound to another policy_snapshot or job_hash');
        expect(decided).toEqual([expect.objectContaining({ job_hash: request.job_hash })]);
      } else {
        expect(decided).toEqual([]);
        const { channel, ts } = job.returnvalue as { channel: string; ts: string };
        expect(hasButtons(g.emulator.messagesIn(channel).find((m) => m.ts === ts))).toBe(true);
        expect(hasButtons(shown(g, card))).toBe(false);
      }
    }
  });

  it('a crash between posting the new card and marking the old one: the redelivered request marks it', async () => {
    const g = await openGate();
    const { card: oldCard } = await g.post({ run_id: 'run_sup_crash' });
    // The update of the old card hangs, and the bot dies meanwhile: its new card is already saved.
    g.emulator.injectFaults('chat.update', { delayMs: 120_000 });
    const job = await g.requests.add('request', validRequest({ run_id: 'run_sup_crash', job: { newer: true } }));
    await waitFor('the old card’s update in flight', () => g.emulator.callsOf('chat.update').length === 1);
    await g.bot.kill();
    expect(hasButtons(shown(g, oldCard))).toBe(true);

    await g.startAnother();
    const done = await g.finished(job, 30_000);
    expect(done.returnvalue).toMatchObject({ outcome: 'duplicate' });
    const old = await waitFor('the old card marked', () => !hasButtons(shown(g, oldCard)) && shown(g, oldCard));
    expect(JSON.stringify(old.blocks)).toContain('*Superseded* by a newer request');
    expect(await g.redis.hexists(`${g.env.STATE_PREFIX}:approval:${approvalIdOf({ run_id: 'run_sup_crash', step_id: 'remediate' })}`, 'supersedes')).toBe(0);
  }, 60_000);

  it('a late retry of the older request changes nothing', async () => {
    const g = await openGate();
    const older = validRequest({ run_id: 'run_sup_late' });
    const olderJob = await g.requests.add('request', older);
    await g.finished(olderJob);
    const { card: newCard } = await g.post({ run_id: 'run_sup_late', job: { newer: true } });
    // A redelivery of the older request, as a retry or a stalled job would bring it back.
    const again = await g.finished(await g.requests.add('request', older, { timestamp: olderJob.timestamp }));
    expect(again.returnvalue).toEqual({ outcome: 'superseded' });
    expect(hasButtons(shown(g, newCard))).toBe(true);
  });
});

describe('policy', () => {
  it('sets the snapshot in force and ends every pending approval bound to another one as stale, at once', async () => {
    const g = await openGate();
    const a = await g.post();
    const b = await g.post();
    const current = await g.post({ policy_snapshot: NEW_SNAPSHOT });
    const job = await g.finished(await g.requests.add('policy', { policy_snapshot: NEW_SNAPSHOT }));
    expect(job.returnvalue).toEqual({ outcome: 'set', stale: 2 });
    expect(await g.redis.get(g.env.POLICY_SNAPSHOT_KEY!)).toBe(NEW_SNAPSHOT);
    const stale = await g.decisions();
    expect(stale.map((d) => [d.run_id, d.decision, d.decided_by.id, d.policy_snapshot_in_force]).sort()).toEqual(
      [a, b].map(({ request }) => [request.run_id, 'stale', 'policy', NEW_SNAPSHOT]).sort(),
    );
    for (const { card } of [a, b]) {
      const updated = await waitFor('the stale card', () => !hasButtons(shown(g, card)) && shown(g, card));
      expect(JSON.stringify(updated.blocks)).toContain('the policy changed since the request');
    }
    expect(hasButtons(shown(g, current.card))).toBe(true);
    await g.emulator.click({ channel: current.card.channel, ts: current.card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the approval under the new policy', async () => (await g.decisions()).some((d) => d.run_id === current.request.run_id && d.decision === 'approved'));
  });

  it('a policy job enqueued earlier never overrides a later one', async () => {
    const g = await openGate();
    const older = await g.requests.add('policy', { policy_snapshot: 'aaaaaaaaaaaa' }, { delay: 1000 });
    const newer = await g.finished(await g.requests.add('policy', { policy_snapshot: 'bbbbbbbbbbbb' }));
    const late = await g.finished(older);
    // Whichever ran last, the one enqueued later is in force; the earlier one, run after it, changed nothing.
    expect(await g.redis.get(g.env.POLICY_SNAPSHOT_KEY!)).toBe('bbbbbbbbbbbb');
    if (late.finishedOn! > newer.finishedOn!) expect(late.returnvalue).toEqual({ outcome: 'outdated', stale: 0 });
  });

  it('refuses a malformed policy job', async () => {
    const g = await openGate();
    const job = await g.finished(await g.requests.add('policy', { policy_snapshot: 'nope' }));
    expect(job.failedReason).toContain('invalid policy: policy_snapshot: must be a hex string');
  });
});

describe('enqueue order', () => {
  // addBulk builds every job in one synchronous pass (bullmq Job.createBulk), so they share
  // Date.now() unless a millisecond ends between two of them: the tests fix the timestamp to make
  // that tie certain, and set BullMQ's id counter to cross a digit boundary.
  const ORDERS = ['together', 'the first delayed', 'the second delayed'] as const;
  const delays = (order: (typeof ORDERS)[number]) => (order === 'the first delayed' ? [300, 0] : order === 'the second delayed' ? [0, 300] : [0, 0]);
  /** Adds jobs whose BullMQ ids start at `first`, then moves the id counter back past everything else. */
  const addBulkFrom = async (g: Gate, first: number, jobs: Parameters<Gate['requests']['addBulk']>[0]) => {
    const counter = `bull:${g.env.REQUEST_QUEUE}:id`;
    const others = Number(await g.redis.get(counter));
    await g.redis.set(counter, first - 1);
    const added = await g.requests.addBulk(jobs);
    await g.redis.set(counter, Math.max(others, first + jobs.length));
    return added;
  };

  it('two policy jobs in one addBulk: the second is in force, whichever runs first, across 9/10, 99/100, 999/1000 and 9999/10000', async () => {
    const g = await openGate();
    for (const first of [9, 99, 999, 9999]) {
      for (const order of ORDERS) {
        const [earlier, later] = [`aaaa${first}${ORDERS.indexOf(order)}`.padEnd(12, '0'), `bbbb${first}${ORDERS.indexOf(order)}`.padEnd(12, '0')];
        // A request bound to the second snapshot, posted before: it must not end stale by the first.
        const bound = await g.post({ policy_snapshot: later });
        const timestamp = Date.now();
        const jobs = await addBulkFrom(g, first, [earlier, later].map((policy_snapshot, i) => ({ name: 'policy', data: { policy_snapshot }, opts: { timestamp, delay: delays(order)[i] } })));
        expect(jobs.map((job) => job.id)).toEqual([String(first), String(first + 1)]);
        const [firstDone, secondDone] = await Promise.all(jobs.map((job) => g.finished(job)));
        expect([first, order, await g.redis.get(g.env.POLICY_SNAPSHOT_KEY!)]).toEqual([first, order, later]);
        if (order === 'the first delayed') {
          expect([first, firstDone!.returnvalue]).toEqual([first, { outcome: 'outdated', stale: 0 }]);
          expect([first, secondDone!.returnvalue.outcome]).toEqual([first, 'set']);
          expect((await g.decisions()).filter((d) => d.run_id === bound.request.run_id)).toEqual([]);
        }
        await Promise.all(jobs.map((job) => g.requests.remove(job.id!)));
      }
    }
  }, 120_000);

  it('custom job ids order by their digits as numbers: policy-10 comes after policy-9', async () => {
    const g = await openGate();
    const timestamp = Date.now();
    const jobs = await g.requests.addBulk([
      { name: 'policy', data: { policy_snapshot: 'cccccccccccc' }, opts: { jobId: 'policy-9', timestamp, delay: 300 } },
      { name: 'policy', data: { policy_snapshot: 'dddddddddddd' }, opts: { jobId: 'policy-10', timestamp } },
    ]);
    const [late] = await Promise.all(jobs.map((job) => g.finished(job)));
    expect(late!.returnvalue).toEqual({ outcome: 'outdated', stale: 0 });
    expect(await g.redis.get(g.env.POLICY_SNAPSHOT_KEY!)).toBe('dddddddddddd');
  });

  it('two requests for one step in one addBulk: the second is on the card, whichever runs first', async () => {
    const g = await openGate();
    for (const order of ORDERS) {
      const runId = `run_bulk_${ORDERS.indexOf(order)}`;
      const [earlier, later] = [validRequest({ run_id: runId, job: { first: true } }), validRequest({ run_id: runId, job: { second: true } })];
      const timestamp = Date.now();
      const jobs = await g.requests.addBulk([earlier, later].map((data, i) => ({ name: 'request', data, opts: { timestamp, delay: delays(order)[i] } })));
      await Promise.all(jobs.map((job) => g.finished(job)));
      const live = g.cardsFor(later).filter(hasButtons);
      expect([order, live.length]).toEqual([order, 1]);
      expect([order, JSON.stringify(live[0]!.blocks)]).toEqual([order, expect.stringContaining(shortHash(String(later.job_hash)))]);
    }
  });

  it('a policy job dated a year ahead of Redis’s clock is refused, naming its timestamp, and a later normal one takes force', async () => {
    const g = await openGate();
    const [sec] = await g.redis.time();
    const yearAhead = Number(sec) * 1000 + 365 * 24 * 3600 * 1000;
    const future = await g.finished(await g.requests.add('policy', { policy_snapshot: 'eeeeeeeeeeee' }, { timestamp: yearAhead }));
    expect(future.failedReason).toContain(`invalid policy: enqueue timestamp ${yearAhead}`);
    expect(future.failedReason).toContain('ahead of Redis');
    expect(await g.redis.get(g.env.POLICY_SNAPSHOT_KEY!)).not.toBe('eeeeeeeeeeee');
    await g.bot.waitForLog((l) => l.msg === 'policy rejected' && l.outcome === 'invalid');

    const normal = await g.finished(await g.requests.add('policy', { policy_snapshot: 'ffffffffffff' }));
    expect(normal.returnvalue).toEqual({ outcome: 'set', stale: 0 });
    expect(await g.redis.get(g.env.POLICY_SNAPSHOT_KEY!)).toBe('ffffffffffff');
  });

  it('a request dated a day ahead is refused and posts no card; a later request for the step posts its card', async () => {
    const g = await openGate();
    const [sec] = await g.redis.time();
    const dayAhead = Number(sec) * 1000 + 24 * 3600 * 1000;
    const request = validRequest({ run_id: 'run_future', job: { first: true } });
    const future = await g.finished(await g.requests.add('request', request, { timestamp: dayAhead }));
    expect(future.failedReason).toContain(`invalid request: enqueue timestamp ${dayAhead}`);
    expect(g.cardsFor(request)).toEqual([]);

    const later = validRequest({ run_id: 'run_future', job: { second: true } });
    const posted = await g.finished(await g.requests.add('request', later));
    expect(posted.returnvalue.outcome).toBe('posted');
    const live = g.cardsFor(later).filter(hasButtons);
    expect(live).toHaveLength(1);
    expect(JSON.stringify(live[0]!.blocks)).toContain(shortHash(String(later.job_hash)));
  });

  it('a job dated 30 s ahead of Redis’s clock (a clock within the allowed skew) is taken', async () => {
    const g = await openGate();
    const [sec] = await g.redis.time();
    const job = await g.finished(await g.requests.add('policy', { policy_snapshot: '121212121212' }, { timestamp: Number(sec) * 1000 + 30_000 }));
    expect(job.returnvalue).toEqual({ outcome: 'set', stale: 0 });
  });
});
