import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createApproval, type ApprovalRecord, type Click } from '../../src/domain/approval.js';
import { createAudit } from '../../src/store/audit.js';
import { parseRequest } from '../../src/domain/contract.js';
import type { ClickDeps } from '../../src/decide/deps.js';
import { decideAndRecord, NotConfirmedError, UncertainOutcomeError } from '../../src/decide/record-click.js';
import { shorthandRoutes } from '../../src/domain/routes.js';
import { createStore, type Store } from '../../src/store/store.js';
import { validRequest } from '../../sandbox/valid-request.js';

/**
 * The record of a click can fail after Redis ran it (the connection drops before the reply): the
 * click must then be read back, never reported as "nothing decided". Real Redis, with a store whose
 * reply is lost after the script ran.
 */

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());
const SNAPSHOT = '7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c';

let store: Store;
let prefix: string;
beforeEach(() => {
  prefix = `record-click-${randomBytes(4).toString('hex')}`;
  store = createStore(redis, { prefix, audit: { key: `${prefix}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 10_000 });
});

async function pendingApproval(): Promise<ApprovalRecord> {
  const parsed = parseRequest(validRequest({ policy_snapshot: SNAPSHOT }));
  if (!parsed.ok) throw new Error(parsed.problems.join());
  const claim = await store.claimCard(createApproval(parsed.request, Date.now()), '1:1');
  if (claim.kind !== 'claimed') throw new Error(claim.kind);
  await store.saveCard(claim.approval, claim.lease, { channel: 'C0APPROVALS', ts: '1764000000.000100' }, Date.now());
  await redis.set(`${prefix}:policy`, SNAPSHOT);
  return (await store.load(claim.approval.id))!;
}

function depsWith(recordStore: Store): ClickDeps {
  return {
    store: recordStore,
    audit: createAudit(redis, { key: `${prefix}:audit`, maxLen: 1000 }),
    users: { lookup: async (id) => ({ id, teamId: 'T0HOME', name: 'alice', isGuest: false, isBot: false, deleted: false }) },
    routes: shorthandRoutes('C0APPROVALS', 'anyone'),
    directory: { isApprover: async () => true },
    homeTeamId: 'T0HOME',
    policySnapshotKey: `${prefix}:policy`,
  };
}

const approveOn = (record: ApprovalRecord): Click => ({
  action: 'approve',
  user: { id: 'U0ALICE', name: 'U0ALICE', team_id: 'T0HOME' },
  card: { approvalId: record.id, cardId: record.cardId, policySnapshot: record.request.policy_snapshot, jobHash: record.request.job_hash },
});

describe('a click whose record may or may not have happened', () => {
  it('is read back: recorded in Redis but its reply lost, the click reports its decision', async () => {
    const record = await pendingApproval();
    const replyLost: Store = { ...store, recordClick: async (...args) => (await store.recordClick(...args), Promise.reject(new Error('Connection is closed.'))) };
    const { outcome } = await decideAndRecord(depsWith(replyLost), approveOn(record));
    expect(outcome).toMatchObject({ kind: 'decided', decision: { decision: 'approved', decided_by: { id: 'U0ALICE' } } });
    expect((await store.load(record.id))!.decision).toMatchObject({ decision: 'approved' });
  });

  it('fails with its cause when the read-back shows the click was not recorded', async () => {
    const record = await pendingApproval();
    const neverRan: Store = { ...store, recordClick: () => Promise.reject(new Error('Connection is closed.')) };
    await expect(decideAndRecord(depsWith(neverRan), approveOn(record))).rejects.toThrow('Connection is closed.');
    expect((await store.load(record.id))!.decision).toBeUndefined();
  });

  it('is uncertain when the approval cannot even be read back', async () => {
    const record = await pendingApproval();
    let reads = 0;
    const redisGone: Store = {
      ...store,
      loadForClick: (...args) => (++reads === 1 ? store.loadForClick(...args) : Promise.reject(new Error('ECONNREFUSED'))),
      recordClick: () => Promise.reject(new Error('Connection is closed.')),
    };
    await expect(decideAndRecord(depsWith(redisGone), approveOn(record))).rejects.toBeInstanceOf(UncertainOutcomeError);
  });
});

describe('a click processed alongside its inbox confirmation', () => {
  const trail = (record: ApprovalRecord) => createAudit(redis, { key: `${prefix}:audit`, maxLen: 1000 }).trail(record.request.run_id);

  it('decides nothing and leaves no trace when its confirmation fails, though its reads went out', async () => {
    const record = await pendingApproval();
    let reads = 0;
    const counting: Store = { ...store, loadForClick: (...args) => (reads++, store.loadForClick(...args)) };
    await expect(decideAndRecord(depsWith(counting), approveOn(record), { confirmed: Promise.resolve(false) })).rejects.toBeInstanceOf(NotConfirmedError);
    expect(reads).toBe(1);
    expect((await store.load(record.id))!.decision).toBeUndefined();
    expect((await trail(record)).map((e) => e.event)).toEqual(['requested', 'posted']);
  });

  it('records once confirmed, its clicked entry and decision together, and hands over the settle lease it took', async () => {
    const record = await pendingApproval();
    const result = await decideAndRecord(depsWith(store), approveOn(record), { confirmed: Promise.resolve(true), takeSettleLease: true });
    expect(result).toMatchObject({ outcome: { kind: 'decided' }, settleToken: expect.any(String) });
    expect((await trail(record)).map((e) => e.event).sort()).toEqual(['clicked', 'decided', 'posted', 'requested']);
    expect(await store.claimSettle(record.id, record.cardId, 15_000)).toEqual({ kind: 'busy' });
  });

  it('takes no settle lease unless asked: any settler may push the decision at once', async () => {
    const record = await pendingApproval();
    const result = await decideAndRecord(depsWith(store), approveOn(record));
    expect(result.outcome).toMatchObject({ kind: 'decided' });
    expect(result.settleToken).toBeUndefined();
    expect(await store.claimSettle(record.id, record.cardId, 15_000)).toMatchObject({ kind: 'claimed' });
  });

  it("a refused click still leaves its 'clicked' entry, once", async () => {
    const record = await pendingApproval();
    const deps = { ...depsWith(store), directory: { isApprover: async () => false } };
    const { outcome } = await decideAndRecord(deps, approveOn(record));
    expect(outcome).toMatchObject({ kind: 'refused', reason: 'unauthorized' });
    expect((await trail(record)).map((e) => e.event)).toEqual(['requested', 'posted', 'clicked']);
  });
});
