import { describe, expect, it } from 'vitest';
import { createApproval, decide, isCurrentCard, JOB_PREVIEW_MAX, renderJobPreview, votesToRecheck, type ApprovalRecord, type Click, type Rules } from '../../src/domain/approval.js';
import { parseRequest, type Decision } from '../../src/domain/contract.js';
import { validRequest } from '../../sandbox/valid-request.js';

const NOW = Date.UTC(2026, 10, 25, 10, 15);
const SNAPSHOT = '7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c';

function record(overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  const parsed = parseRequest(validRequest({ policy_snapshot: `sha256:${SNAPSHOT}`, run_id: 'run_8f9a', initiated_by: 'U0CAROL' }));
  if (!parsed.ok) throw new Error(parsed.problems.join());
  return { ...createApproval(parsed.request, NOW - 60_000), cardId: 'card-1', votes: [], ...overrides };
}

function clickOn(r: ApprovalRecord, overrides: Partial<Click> = {}): Click {
  return {
    action: 'approve',
    user: { id: 'U0ALICE', name: 'alice' },
    card: { approvalId: r.id, cardId: r.cardId, policySnapshot: SNAPSHOT, jobHash: r.request.job_hash.replace('sha256:', '') },
    ...overrides,
  };
}

const anyone: Rules = { isApprover: true, requiredApprovals: 1, denySelfApproval: true, confirmTyped: false, expiresAt: undefined };
const twoOf: Rules = { ...anyone, requiredApprovals: 2 };
const typed: Rules = { ...anyone, confirmTyped: true };
const vote = (id: string) => ({ id, name: id.toLowerCase(), at: new Date(NOW - 30_000).toISOString() });
const earlier: Decision = {
  run_id: 'run_8f9a',
  step_id: 'remediate',
  decision: 'approved',
  decided_by: { id: 'U0BOB', name: 'bob' },
  decided_at: new Date(NOW - 120_000).toISOString(),
  policy_snapshot: SNAPSHOT,
  job_hash: 'abc',
  constraints: {},
};

describe('the job an approval keeps to show', () => {
  it('is the job as compact JSON when it is small (it is indented when shown)', () => {
    expect(renderJobPreview({ sql: 'SELECT 1', params: [1] })).toBe('{"sql":"SELECT 1","params":[1]}');
  });

  it('is cut when it is large, saying on a line of its own how much is left out', () => {
    const job = { statements: Array.from({ length: 2000 }, (_, i) => `UPDATE t SET a = ${i}`) };
    const full = JSON.stringify(job);
    const preview = renderJobPreview(job);
    expect(preview.length).toBeLessThanOrEqual(JOB_PREVIEW_MAX);
    const [shown, note] = preview.split('\n… ');
    expect(full.startsWith(shown!)).toBe(true);
    expect(note).toBe(`${full.length - shown!.length} more characters (the job hash covers all of them)`);
  });

  it('is never cut inside a character made of two UTF-16 units', () => {
    for (let pad = 0; pad < 4; pad += 1) {
      const preview = renderJobPreview('x'.repeat(pad) + '😀'.repeat(4000));
      const shown = preview.split('\n… ')[0]!;
      expect(/[\uD800-\uDBFF]$/.test(shown)).toBe(false);
    }
  });
});

describe('deciding a click', () => {
  const r = record();

  it.each<[string, ApprovalRecord | undefined, Partial<Click>, string | undefined, Rules, object]>([
    ['Approve on the current card under the same policy approves', r, {}, SNAPSHOT, anyone, { kind: 'decided', decision: { decision: 'approved' } }],
    ['Deny denies', r, { action: 'deny' }, SNAPSHOT, anyone, { kind: 'decided', decision: { decision: 'denied' } }],
    ['the snapshot compares without its prefix and case', r, {}, `sha256:${SNAPSHOT.toUpperCase()}`, anyone, { kind: 'decided', decision: { decision: 'approved' } }],
    ['a changed policy makes it stale, even for Deny', r, { action: 'deny' }, 'ffffffffffff', anyone, { kind: 'decided', decision: { decision: 'stale', policy_snapshot_in_force: 'ffffffffffff' } }],
    ['no snapshot in force refuses an Approve (fail closed)', r, {}, undefined, anyone, { kind: 'refused', reason: 'no_policy' }],
    ['…but a Deny needs no policy: it denies', r, { action: 'deny' }, undefined, anyone, { kind: 'decided', decision: { decision: 'denied', decided_by: { id: 'U0ALICE' } } }],
    ['…even the last approval of an N-of-M', { ...r, votes: [vote('U0BOB')] }, { action: 'deny' }, undefined, twoOf, { kind: 'decided', decision: { decision: 'denied' } }],
    ['an unknown approval refuses', undefined, {}, SNAPSHOT, anyone, { kind: 'refused', reason: 'not_found' }],
    ['a click on a superseded card decides nothing', r, { card: { ...clickOn(r).card, cardId: 'card-0' } }, SNAPSHOT, anyone, { kind: 'refused', reason: 'stale_card' }],
    ['a button bound to another job hash decides nothing', r, { card: { ...clickOn(r).card, jobHash: '00000000' } }, SNAPSHOT, anyone, { kind: 'refused', reason: 'stale_card' }],
    ['a button naming another approval decides nothing', r, { card: { ...clickOn(r).card, approvalId: 'ap-other' } }, SNAPSHOT, anyone, { kind: 'refused', reason: 'stale_card' }],
    ['a decided approval refuses with its decision', { ...r, decision: earlier }, {}, SNAPSHOT, anyone, { kind: 'refused', reason: 'already_decided', decision: earlier }],
    ['someone who is not an approver is refused', r, {}, SNAPSHOT, { ...anyone, isApprover: false }, { kind: 'refused', reason: 'unauthorized' }],
    ['the person who started the run cannot approve it', r, { user: { id: 'U0CAROL', name: 'carol' } }, SNAPSHOT, anyone, { kind: 'refused', reason: 'self_approval' }],
    ['…but can deny it', r, { action: 'deny', user: { id: 'U0CAROL', name: 'carol' } }, SNAPSHOT, anyone, { kind: 'decided', decision: { decision: 'denied' } }],
    ['…and can approve it where the route allows self-approval', r, { user: { id: 'U0CAROL', name: 'carol' } }, SNAPSHOT, { ...anyone, denySelfApproval: false }, { kind: 'decided' }],
    ['the first of two approvals is counted, not decided', r, {}, SNAPSHOT, twoOf, { kind: 'counted', votes: [{ id: 'U0ALICE', name: 'alice' }], required: 2 }],
    ['the second distinct approval approves, listing both', { ...r, votes: [vote('U0BOB')] }, {}, SNAPSHOT, twoOf, { kind: 'decided', decision: { decision: 'approved', approvals: [{ id: 'U0BOB' }, { id: 'U0ALICE' }] } }],
    ['the same person never counts twice', { ...r, votes: [vote('U0ALICE')] }, {}, SNAPSHOT, twoOf, { kind: 'refused', reason: 'already_counted', required: 2 }],
    ['one deny denies, whatever was approved before', { ...r, votes: [vote('U0BOB')] }, { action: 'deny' }, SNAPSHOT, twoOf, { kind: 'decided', decision: { decision: 'denied' } }],
    ['a changed policy ends a half-approved request as stale', { ...r, votes: [vote('U0BOB')] }, {}, 'ffffffffffff', twoOf, { kind: 'decided', decision: { decision: 'stale' } }],
    ['on a typed route, a plain Approve asks for the typed confirmation', r, {}, SNAPSHOT, typed, { kind: 'refused', reason: 'confirmation_required' }],
    ['…a wrong text decides nothing', r, { typed: 'remediat' }, SNAPSHOT, typed, { kind: 'refused', reason: 'typed_mismatch' }],
    ['…the step id approves', r, { typed: ' remediate ' }, SNAPSHOT, typed, { kind: 'decided', decision: { decision: 'approved' } }],
    ['…so do the first 8 characters of the job hash, in any case', r, { typed: r.request.job_hash.replace('sha256:', '').slice(0, 8).toUpperCase() }, SNAPSHOT, typed, { kind: 'decided', decision: { decision: 'approved' } }],
    ['…but not 7 of them', r, { typed: r.request.job_hash.replace('sha256:', '').slice(0, 7) }, SNAPSHOT, typed, { kind: 'refused', reason: 'typed_mismatch' }],
    ['…Deny needs no typing', r, { action: 'deny' }, SNAPSHOT, typed, { kind: 'decided', decision: { decision: 'denied' } }],
    ['…and a stale approval closes as stale without it', r, {}, 'ffffffffffff', typed, { kind: 'decided', decision: { decision: 'stale' } }],
    ['…a non-approver is refused before being asked to type', r, {}, SNAPSHOT, { ...typed, isApprover: false }, { kind: 'refused', reason: 'unauthorized' }],
  ])('%s', (_name, rec, click, snapshot, approvers, expected) => {
    expect(decide(rec, clickOn(r, click), snapshot, approvers, NOW)).toMatchObject(expected);
  });

  const expiring = (expiresAt: number): Rules => ({ ...anyone, expiresAt });
  const expired = { kind: 'expired', decision: { decision: 'expired', decided_by: { id: 'expiry' }, decided_at: new Date(NOW).toISOString() }, expiredAt: NOW };
  it.each<[string, ApprovalRecord, Partial<Click>, string | undefined, Rules, object]>([
    ['a click a moment before the expiry still approves', r, {}, SNAPSHOT, expiring(NOW + 1), { kind: 'decided', decision: { decision: 'approved' } }],
    ['an Approve at the expiry decides nothing: the approval ends as expired', r, {}, SNAPSHOT, expiring(NOW), expired],
    ['an Approve after the expiry, the timer late, ends it as expired', r, {}, SNAPSHOT, expiring(NOW - 2000), { ...expired, expiredAt: NOW - 2000 }],
    ['so does a Deny', r, { action: 'deny' }, SNAPSHOT, expiring(NOW), expired],
    ['…and the approval that would complete an N-of-M', { ...r, votes: [vote('U0BOB')] }, {}, SNAPSHOT, { ...twoOf, expiresAt: NOW }, expired],
    ['…and a typed confirmation that matches', r, { typed: 'remediate' }, SNAPSHOT, { ...typed, expiresAt: NOW }, expired],
    ['an expiry needs no policy: with none in force it still ends as expired', r, {}, undefined, expiring(NOW), expired],
    ['…nor the policy the request was bound to', r, {}, 'ffffffffffff', expiring(NOW), expired],
    ['a decided approval stays decided after its expiry', { ...r, decision: earlier }, {}, SNAPSHOT, expiring(NOW - 1), { kind: 'refused', reason: 'already_decided', decision: earlier }],
    ['a click on a superseded card decides nothing, expired or not', r, { card: { ...clickOn(r).card, cardId: 'card-0' } }, SNAPSHOT, expiring(NOW - 1), { kind: 'refused', reason: 'stale_card' }],
  ])('%s', (_name, rec, click, snapshot, rules, expected) => {
    expect(decide(rec, clickOn(r, click), snapshot, rules, NOW)).toMatchObject(expected);
  });

  const dropBob = [{ vote: vote('U0BOB'), reason: 'not_approver' as const }];
  it.each<[string, ApprovalRecord, Rules, object]>([
    [
      '2 of 2: an earlier approval that no longer stands is dropped, and the click is counted alone',
      { ...r, votes: [vote('U0BOB')] },
      { ...twoOf, dropped: dropBob },
      { kind: 'counted', votes: [{ id: 'U0ALICE' }], required: 2, dropped: dropBob },
    ],
    [
      '3 of 3: only the approvals that still stand are counted',
      { ...r, votes: [vote('U0BOB'), vote('U0CAROL')] },
      { ...twoOf, requiredApprovals: 3, dropped: [{ vote: vote('U0CAROL'), reason: 'deactivated' }] },
      { kind: 'counted', votes: [{ id: 'U0BOB' }, { id: 'U0ALICE' }], required: 3, dropped: [{ vote: { id: 'U0CAROL' }, reason: 'deactivated' }] },
    ],
    [
      'when those that stand still reach N, it approves, listing only them',
      { ...r, votes: [vote('U0BOB'), vote('U0CAROL')] },
      { ...twoOf, dropped: [{ vote: vote('U0CAROL'), reason: 'guest' }] },
      { kind: 'decided', decision: { decision: 'approved', approvals: [{ id: 'U0BOB' }, { id: 'U0ALICE' }] }, dropped: [{ vote: { id: 'U0CAROL' }, reason: 'guest' }] },
    ],
  ])('%s', (_name, rec, rules, expected) => {
    const outcome = decide(rec, clickOn(r), SNAPSHOT, rules, NOW);
    expect(outcome).toMatchObject(expected);
    if (outcome.kind === 'counted') expect(outcome.votes).toHaveLength((expected as { votes: unknown[] }).votes.length);
  });

  it('re-checks the earlier approvals only when an approve would complete the approval', () => {
    const half = { ...r, votes: [vote('U0BOB')] };
    expect(votesToRecheck(decide(half, clickOn(r), SNAPSHOT, twoOf, NOW), 'U0ALICE')).toEqual([vote('U0BOB')]);
    expect(votesToRecheck(decide(r, clickOn(r), SNAPSHOT, twoOf, NOW), 'U0ALICE')).toEqual([]);
    expect(votesToRecheck(decide(r, clickOn(r), SNAPSHOT, anyone, NOW), 'U0ALICE')).toEqual([]);
    expect(votesToRecheck(decide(half, clickOn(r, { action: 'deny' }), SNAPSHOT, twoOf, NOW), 'U0ALICE')).toEqual([]);
  });

  it('echoes exactly what was requested, who decided and when', () => {
    const outcome = decide(r, clickOn(r, { comment: 'ok for INC-42' }), SNAPSHOT, anyone, NOW);
    expect(outcome).toEqual({
      kind: 'decided',
      decision: {
        run_id: 'run_8f9a',
        step_id: 'remediate',
        decision: 'approved',
        decided_by: { id: 'U0ALICE', name: 'alice' },
        decided_at: '2026-11-25T10:15:00.000Z',
        policy_snapshot: `sha256:${SNAPSHOT}`,
        job_hash: r.request.job_hash,
        constraints: { max_lines_changed: 500, max_runtime_sec: 900 },
        comment: 'ok for INC-42',
        approvals: [{ id: 'U0ALICE', name: 'alice', at: '2026-11-25T10:15:00.000Z', comment: 'ok for INC-42' }],
      },
    });
  });

  it('knows the current card only by every part of its binding', () => {
    expect(isCurrentCard(r, clickOn(r).card)).toBe(true);
    expect(isCurrentCard(r, { ...clickOn(r).card, policySnapshot: 'SHA256:' + SNAPSHOT.toUpperCase() })).toBe(true);
    expect(isCurrentCard(r, { ...clickOn(r).card, policySnapshot: '0'.repeat(32) })).toBe(false);
  });
});
