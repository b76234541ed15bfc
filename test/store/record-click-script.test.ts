import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createApproval, expiredDecision, type Approval } from '../../src/domain/approval.js';
import { auditEntry, createAudit } from '../../src/store/audit.js';
import { parseRequest, type Decision } from '../../src/domain/contract.js';
import { createStore, type Store } from '../../src/store/store.js';
import { validRequest } from '../../sandbox/valid-request.js';

/**
 * RECORD_CLICK checks every rule again when Redis runs it, which may be long after the bot decided:
 * the expiry and the caller's deadline by Redis's own clock, the snapshot in force (or its absence).
 */

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());

let store: Store;
let prefix: string;
const snapshotKey = () => `${prefix}:policy`;
beforeEach(() => {
  prefix = `record-script-${randomBytes(4).toString('hex')}`;
  store = createStore(redis, { prefix, audit: { key: `${prefix}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 10_000 });
});

async function pending(): Promise<Approval> {
  const parsed = parseRequest(validRequest());
  if (!parsed.ok) throw new Error(parsed.problems.join());
  const claim = await store.claimCard(createApproval(parsed.request, Date.now()), '1:1');
  if (claim.kind !== 'claimed') throw new Error(claim.kind);
  await store.saveCard(claim.approval, claim.lease, { channel: 'C0APPROVALS', ts: '1764000000.000100' }, Date.now());
  await redis.set(snapshotKey(), parsed.request.policy_snapshot);
  // A click comes at least a millisecond after its card: the trail orders two streams by time, a click first at the same ms.
  await delay(2);
  return claim.approval;
}

function decisionOf(approval: Approval, outcome: Decision['decision'], at: number): Decision {
  const r = approval.request;
  return { run_id: r.run_id, step_id: r.step_id, decision: outcome, decided_by: { id: 'U0ALICE', name: 'alice' }, decided_at: new Date(at).toISOString(), policy_snapshot: r.policy_snapshot, job_hash: r.job_hash, constraints: {} };
}

const vote = (at: number) => ({ id: 'U0ALICE', name: 'alice', at: new Date(at).toISOString() });

async function recordNow(approval: Approval, change: Parameters<Store['recordClick']>[2], decidedAt: number, limits: Parameters<Store['recordClick']>[7]) {
  const read = await store.loadForClick(approval.id, snapshotKey());
  return store.recordClick(approval, approval.cardId, change, read, snapshotKey(), auditEntry(approval, 'decided', 'U0ALICE', decidedAt), decidedAt, limits);
}

const trail = async (approval: Approval) => (await createAudit(redis, { key: `${prefix}:audit`, maxLen: 1000 }).trail(approval.request.run_id)).map((e) => e.event);

describe('recording a click, checked again when Redis runs it', () => {
  it.each<[string, (a: Approval, at: number) => Parameters<Store['recordClick']>[2]]>([
    ['an approval counted', (_a, at) => ({ kind: 'vote', votes: [vote(at)] })],
    ['an approve', (a, at) => ({ kind: 'decision', decision: decisionOf(a, 'approved', at) })],
    ['a deny', (a, at) => ({ kind: 'decision', decision: decisionOf(a, 'denied', at) })],
  ])('%s that Redis runs at or after the expiry records nothing, though the bot decided before it', async (_what, change) => {
    const approval = await pending();
    const decidedAt = Date.now() - 5000;
    // The bot decided 5 s ago, 1 s before the expiry; Redis runs the record now.
    expect(await recordNow(approval, change(approval, decidedAt), decidedAt, { expiresAt: decidedAt + 1000 })).toEqual({ kind: 'expired' });
    const stored = await store.load(approval.id);
    expect([stored!.decision, stored!.votes]).toEqual([undefined, []]);
    expect(await trail(approval)).toEqual(['requested', 'posted']);
  });

  it('records before the expiry, by Redis’s clock', async () => {
    const approval = await pending();
    expect(await recordNow(approval, { kind: 'vote', votes: [vote(Date.now())] }, Date.now(), { expiresAt: Date.now() + 60_000 })).toEqual({ kind: 'counted' });
  });

  it('records nothing past the caller’s deadline, not even an expiry', async () => {
    const approval = await pending();
    const deadline = Date.now() - 1;
    expect(await recordNow(approval, { kind: 'decision', decision: decisionOf(approval, 'approved', Date.now()) }, Date.now(), { notAfter: deadline })).toEqual({ kind: 'too_late' });
    expect(await recordNow(approval, { kind: 'decision', decision: expiredDecision(approval, Date.now()) }, Date.now(), { notAfter: deadline })).toEqual({ kind: 'too_late' });
    expect(await store.load(approval.id)).toMatchObject({ votes: [] });
    expect((await store.load(approval.id))!.decision).toBeUndefined();
    expect(await recordNow(approval, { kind: 'vote', votes: [vote(Date.now())] }, Date.now(), { notAfter: Date.now() + 60_000 })).toEqual({ kind: 'counted' });
  });

  it('records an expiry with the snapshot key missing, whatever was counted since it was read', async () => {
    const approval = await pending();
    const read = await store.loadForClick(approval.id, snapshotKey());
    await recordNow(approval, { kind: 'vote', votes: [vote(Date.now())] }, Date.now(), {});
    await redis.del(snapshotKey());
    const expiry = expiredDecision(approval, Date.now());
    const entry = auditEntry(approval, 'expired', 'expiry', Date.now());
    expect(await store.recordClick(approval, approval.cardId, { kind: 'decision', decision: expiry }, read, snapshotKey(), entry, Date.now())).toEqual({ kind: 'recorded' });
    expect((await store.load(approval.id))!.decision).toEqual(expiry);
  });

  it('compares a snapshot read as missing as missing: a deny records while it still is, not once one is set', async () => {
    const first = await pending();
    await redis.del(snapshotKey());
    expect(await recordNow(first, { kind: 'decision', decision: decisionOf(first, 'denied', Date.now()) }, Date.now(), {})).toEqual({ kind: 'recorded' });

    const second = await pending();
    await redis.del(snapshotKey());
    const read = await store.loadForClick(second.id, snapshotKey());
    expect(read.snapshotInForce).toBeUndefined();
    await redis.set(snapshotKey(), 'abcdef0123456789');
    const deny = { kind: 'decision' as const, decision: decisionOf(second, 'denied', Date.now()) };
    expect(await store.recordClick(second, second.cardId, deny, read, snapshotKey(), auditEntry(second, 'decided', 'U0ALICE', Date.now()), Date.now())).toEqual({ kind: 'changed' });
  });

  it('appends every audit entry it is given with the change, in order', async () => {
    const approval = await pending();
    const read = await store.loadForClick(approval.id, snapshotKey());
    const entries = [auditEntry(approval, 'vote_dropped', 'U0ALICE', Date.now(), { voter: 'U0BOB', reason: 'not_approver' }), auditEntry(approval, 'approval_counted', 'U0ALICE', Date.now())];
    expect(await store.recordClick(approval, approval.cardId, { kind: 'vote', votes: [vote(Date.now())] }, read, snapshotKey(), entries, Date.now())).toEqual({ kind: 'counted' });
    expect(await trail(approval)).toEqual(['requested', 'posted', 'vote_dropped', 'approval_counted']);
  });

  it("appends the click's 'clicked' entry with the decision, and takes the decision's settle lease for the caller", async () => {
    const approval = await pending();
    const audit = createAudit(redis, { key: `${prefix}:audit`, maxLen: 1000 });
    const clicked = audit.clickedAppend(auditEntry(approval, 'clicked', 'U0ALICE', Date.now(), { action: 'approve' }));
    const result = await recordNow(approval, { kind: 'decision', decision: decisionOf(approval, 'approved', Date.now()) }, Date.now(), { clicked, settleLeaseMs: 15_000 });
    expect(result).toEqual({ kind: 'recorded', settleToken: expect.stringMatching(/^[0-9a-f]{24}$/) });
    expect(await trail(approval)).toEqual(['requested', 'posted', 'clicked', 'decided']);
    // Another settler (a drain, another replica) finds the lease taken; the token's holder can give it back.
    expect(await store.claimSettle(approval.id, approval.cardId, 15_000)).toEqual({ kind: 'busy' });
    await store.releaseSettle(approval.id, approval.cardId, (result as { settleToken: string }).settleToken);
    expect(await store.claimSettle(approval.id, approval.cardId, 15_000)).toMatchObject({ kind: 'claimed', delivered: false });
  });

  it("appends no 'clicked' entry when what was read changed (the click is decided again, with it), one when a decision came first", async () => {
    const approval = await pending();
    const audit = createAudit(redis, { key: `${prefix}:audit`, maxLen: 1000 });
    const clicked = audit.clickedAppend(auditEntry(approval, 'clicked', 'U0BOB', Date.now(), { action: 'approve' }));
    const read = await store.loadForClick(approval.id, snapshotKey());
    await redis.set(snapshotKey(), 'fedcba9876543210');
    const approve = { kind: 'decision' as const, decision: decisionOf(approval, 'approved', Date.now()) };
    const entry = auditEntry(approval, 'decided', 'U0BOB', Date.now());
    expect(await store.recordClick(approval, approval.cardId, approve, read, snapshotKey(), entry, Date.now(), { clicked, settleLeaseMs: 15_000 })).toEqual({ kind: 'changed' });
    expect(await trail(approval)).toEqual(['requested', 'posted']);

    await recordNow(approval, { kind: 'decision', decision: decisionOf(approval, 'denied', Date.now()) }, Date.now(), {});
    const again = await store.loadForClick(approval.id, snapshotKey());
    expect(await store.recordClick(approval, approval.cardId, approve, again, snapshotKey(), entry, Date.now(), { clicked, settleLeaseMs: 15_000 })).toMatchObject({ kind: 'decided' });
    // The trail orders by time: the entry carries when the click was read.
    expect((await trail(approval)).sort()).toEqual(['clicked', 'decided', 'posted', 'requested']);
  });

  it("appends no 'clicked' entry for a user over the refusal limit, as the click stream's own append does not", async () => {
    const approval = await pending();
    const audit = createAudit(redis, { key: `${prefix}:audit`, maxLen: 1000, refusalLimit: { max: 1, windowMs: 60_000 } });
    await audit.appendRefusal(auditEntry(approval, 'refused', 'U0MALLORY', Date.now(), { reason: 'not_approver' }));
    const clicked = audit.clickedAppend(auditEntry(approval, 'clicked', 'U0MALLORY', Date.now(), { action: 'deny' }));
    const deny = { kind: 'decision' as const, decision: decisionOf(approval, 'denied', Date.now()) };
    expect(await recordNow(approval, deny, Date.now(), { clicked })).toEqual({ kind: 'recorded' });
    expect((await trail(approval)).sort()).toEqual(['decided', 'posted', 'refused', 'requested']);
  });
});
