import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createApproval, type ApprovalRecord, type Refusal } from '../../src/domain/approval.js';
import { LIMITS, parseRequest, type Decision, type Vote } from '../../src/domain/contract.js';
import { renderEndedNotice, renderPostedNotice } from '../../src/intake/requester-notice.js';
import { FALLBACK_TEXT_MAX, measureBlocks, MESSAGE_BUDGET, TEXT_ONLY_MAX } from '../../src/views/budget.js';
import { DETAIL_CUTS, prepareDetails, renderDetails, type DetailLimits } from '../../src/views/card-details.js';
import { renderApprovalCounted, renderCancelledCard, renderDecidedCard, renderReminder, renderRequestCard, renderSupersededCard } from '../../src/views/cards.js';
import { renderDecideModal } from '../../src/views/decide-modal.js';
import { LIST_LIMIT, renderPendingList, type PendingItem } from '../../src/views/pending-list.js';
import { refusalInModal, renderCounted, renderRefusal } from '../../src/views/replies.js';
import { blocksTextLength, checkBlocks, checkModal, MESSAGE_TEXT_MAX } from '../../sandbox/block-kit-rules.js';
import { hostileRecord, hostileText, lengthUpTo, PIECES, textOf } from '../helpers/hostile.js';

const NOW = Date.UTC(2026, 10, 25, 12, 30);

/** What the emulator (and Slack) would answer a message with these blocks: `ok` or the error. */
function slackAnswer(blocks: unknown[]): string {
  if (checkBlocks(blocks).length > 0) return 'invalid_blocks';
  return blocksTextLength(blocks) > MESSAGE_TEXT_MAX ? 'msg_blocks_too_long' : 'ok';
}

const amp = (length: number) => '&'.repeat(length);

/** Every field at the contract's maximum, full of `&` (which escaping makes five characters). */
function maximalApproval() {
  const parsed = parseRequest({
    run_id: amp(LIMITS.id),
    step_id: amp(LIMITS.id),
    workflow: amp(LIMITS.name),
    requested_by: amp(LIMITS.name),
    reason: amp(LIMITS.reason),
    policy_snapshot: `sha256:${'a'.repeat(128)}`,
    policy_rule: amp(LIMITS.name),
    job_hash: `sha256:${'b'.repeat(128)}`,
    risk_tags: Array.from({ length: LIMITS.riskTags }, (_, i) => amp(LIMITS.riskTag - 2) + String(i).padStart(2, '0')),
    constraints: Object.fromEntries(Array.from({ length: LIMITS.constraints }, (_, i) => [amp(LIMITS.constraintKey - 2) + String(i).padStart(2, '0'), amp(LIMITS.constraintValue)])),
  });
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return { ...createApproval(parsed.request, Date.UTC(2026, 10, 25)), cardId: '0123456789abcdef' };
}

const decision = (overrides: Partial<Decision>): Decision => ({
  run_id: 'r',
  step_id: 's',
  decision: 'approved',
  decided_by: { id: 'U0ALICE', name: 'alice' },
  decided_at: '2026-11-25T10:15:00.000Z',
  policy_snapshot: 'abcdef12',
  job_hash: 'abcdef12',
  constraints: {},
  ...overrides,
});

const hasLoneSurrogate = (text: string) => /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);

/** A message with blocks as Slack checks it, and as the gate budgets it. */
function expectAccepted(message: { text: string; blocks: unknown[] }): void {
  expect(checkBlocks(message.blocks)).toEqual([]);
  expect(blocksTextLength(message.blocks)).toBeLessThanOrEqual(MESSAGE_TEXT_MAX);
  expect(measureBlocks(message.blocks)).toBeLessThanOrEqual(MESSAGE_BUDGET);
  expect(message.text.length).toBeGreaterThan(0);
  expect(message.text.length).toBeLessThanOrEqual(FALLBACK_TEXT_MAX);
  expect(hasLoneSurrogate(JSON.stringify(message))).toBe(false);
}

/** A message without blocks (a DM, a thread reply, an ephemeral reply). */
function expectTextAccepted(text: string): void {
  expect(text.length).toBeGreaterThan(0);
  expect(text.length).toBeLessThanOrEqual(TEXT_ONLY_MAX);
  expect(hasLoneSurrogate(text)).toBe(false);
}

const userId = fc.constantFrom('U0ALICE', 'U0BOB', 'W0CAROL');
const vote: fc.Arbitrary<Vote> = fc.record({ id: userId, name: hostileText(300), at: fc.constant('2026-11-25T10:00:00.000Z'), comment: hostileText(3000) }, { requiredKeys: ['id', 'name', 'at'] });

/** Every way an approval ends, with comments and names past what the modal lets a reviewer type. */
const ending: fc.Arbitrary<Decision> = fc.oneof(
  fc.record({ comment: fc.option(hostileText(3000), { nil: undefined }), name: hostileText(300) }).map(({ comment, name }) => decision({ decided_by: { id: 'U0ALICE', name }, ...(comment ? { comment } : {}) })),
  fc.record({ comment: hostileText(3000), approvals: fc.array(vote, { minLength: 2, maxLength: 5 }) }).map(({ comment, approvals }) => decision({ comment, approvals })),
  hostileText(3000).map((comment) => decision({ decision: 'denied', decided_by: { id: 'U0BOB', name: 'bob' }, comment })),
  fc.constant(decision({ decision: 'stale', decided_by: { id: 'policy', name: 'policy' }, policy_snapshot_in_force: 'sha256:' + 'c'.repeat(64) })),
  fc.constant(decision({ decision: 'expired', decided_by: { id: 'expiry', name: 'expiry' } })),
);

const pendingItem = (record: ApprovalRecord, i: number): PendingItem => ({
  record: { ...record, cardId: String(i).padStart(16, '0'), createdAt: NOW - (i + 1) * 60_000 },
  expiresAt: i % 3 === 0 ? undefined : NOW + i * 3_600_000,
  requiredApprovals: 1 + (i % 3),
  confirm: i % 2 === 0,
  permalink: `https://sandbox.slack.local/archives/C0APPROVALS/p17000000000${String(i).padStart(5, '0')}`,
});

describe('every message Slack would accept', () => {
  it('a request with every field at its maximum and full of & gives a pending card Slack accepts', () => {
    expect(slackAnswer(renderRequestCard(maximalApproval()).blocks)).toBe('ok');
  });

  it('the same request, approved with a 1,000-character comment of &, gives a decided card Slack accepts', () => {
    expect(slackAnswer(renderDecidedCard(maximalApproval(), decision({ comment: amp(1000) })).blocks)).toBe('ok');
  });

  it('/approvals with a 600-character argument of & gives a reply Slack accepts', () => {
    expect(slackAnswer(renderPendingList([], { mine: false, riskTag: amp(600) }, NOW).blocks)).toBe('ok');
  });

  it('cuts the least needed first: the reason’s tail goes, the binding, who asked, the outcome and the buttons stay', () => {
    const approval = maximalApproval();
    const card = JSON.stringify(renderDecidedCard(approval, decision({ comment: amp(1000) })).blocks);
    expect(card).toContain(`Policy snapshot \`${'a'.repeat(12)}\` · Job hash \`${'b'.repeat(12)}\``);
    expect(card).toContain('*Requested by*\\n&amp;&amp;');
    expect(card).toContain(':white_check_mark: *Approved* by <@U0ALICE>');
    expect(card).toContain('*Comment:* &amp;');
    expect(card).toMatch(/_and \d+ more_/);
    const pending = renderRequestCard(approval).blocks;
    expect(pending.at(-1)).toMatchObject({ type: 'actions' });
  });

  it('at the deepest cuts, the details of the largest request measure under 3,000, leaving the rest of the budget to the route and the outcome', () => {
    const floors = Object.fromEntries(DETAIL_CUTS.map((cut) => [cut.limit, cut.floor])) as unknown as DetailLimits;
    expect(measureBlocks(renderDetails(prepareDetails(maximalApproval()), floors))).toBeLessThan(3000);
  });

  it('any pending card, with any route’s additions, is within Slack’s limits and the budget', () => {
    const context = fc.record(
      {
        requiredApprovals: fc.integer({ min: 1, max: 5 }),
        mention: fc.array(fc.constantFrom('U0ALICE', 'S0ONCALL', 'W0CAROL'), { maxLength: 30 }),
        votes: fc.array(vote, { maxLength: 4 }),
        expiresAt: fc.constant(NOW + 3_600_000),
        confirm: fc.boolean(),
        note: fc.constant('Posted in <#C0APPROVALS>: the request asked for <#C0OTHER>, which the bot is not in.'),
      },
      { requiredKeys: ['requiredApprovals'] },
    );
    fc.assert(
      fc.property(hostileRecord, context, (record, ctx) => {
        expectAccepted(renderRequestCard(record, ctx));
      }),
      { numRuns: 40 },
    );
  });

  it('any card that ended, however it ended, is within Slack’s limits and the budget', () => {
    fc.assert(
      fc.property(hostileRecord, ending, hostileText(2000), (record, decided, cancelReason) => {
        expectAccepted(renderDecidedCard(record, decided));
        expectAccepted(renderCancelledCard(record, { reason: cancelReason, at: '2026-11-25T10:20:00.000Z' }));
        expectAccepted(renderSupersededCard(record, { channel: 'C0APPROVALS', ts: '1.000002' }));
      }),
      { numRuns: 30 },
    );
  });

  it('any /approvals reply, whatever the argument and however many are pending, is within Slack’s limits and the budget', () => {
    fc.assert(
      fc.property(fc.array(hostileRecord, { minLength: 0, maxLength: LIST_LIMIT + 2 }), fc.option(hostileText(3000), { nil: undefined }), fc.boolean(), (records, riskTag, mine) => {
        const reply = renderPendingList(records.map(pendingItem), { mine, ...(riskTag ? { riskTag } : {}), channel: 'C0INCIDENT42' }, NOW);
        expectAccepted(reply);
        if (records.length > 0) expect(reply.blocks.filter((block) => block.type === 'actions').length).toBeGreaterThan(0);
      }),
      { numRuns: 15 },
    );
  });

  it('any decide modal, typed or not, is within Slack’s modal limits and the budget', () => {
    fc.assert(
      fc.property(hostileRecord, fc.constantFrom('approve', 'deny') as fc.Arbitrary<'approve' | 'deny'>, fc.boolean(), (record, action, typed) => {
        const view = renderDecideModal(record, action, { typed, commentOptional: typed });
        expect(checkModal(view as unknown as Record<string, unknown>)).toEqual([]);
        expect(measureBlocks(view.blocks)).toBeLessThanOrEqual(MESSAGE_BUDGET);
        expect(hasLoneSurrogate(JSON.stringify(view))).toBe(false);
      }),
      { numRuns: 30 },
    );
  });

  it('any reply, thread reply or DM is text within the budget for text', () => {
    const refusal: fc.Arbitrary<Refusal> = fc.oneof(
      fc.constantFrom<Refusal>(
        { reason: 'unauthorized' }, { reason: 'self_approval' }, { reason: 'not_found' }, { reason: 'stale_card' }, { reason: 'no_policy' },
        { reason: 'bot' }, { reason: 'deactivated' }, { reason: 'guest' }, { reason: 'external_team' }, { reason: 'confirmation_required' }, { reason: 'typed_mismatch' },
      ),
      fc.array(vote, { maxLength: 5 }).map((votes): Refusal => ({ reason: 'already_counted', votes, required: 6 })),
      ending.map((decided): Refusal => ({ reason: 'already_decided', decision: decided })),
      hostileText(2000).map((reason): Refusal => ({ reason: 'cancelled', cancellation: { reason, at: '2026-11-25T10:20:00.000Z' } })),
    );
    fc.assert(
      fc.property(hostileRecord, refusal, vote, ending, hostileText(2000), (record, refused, counted, decided, cancelReason) => {
        expectTextAccepted(renderRefusal(refused));
        expectTextAccepted(refusalInModal(refused));
        expectTextAccepted(renderCounted(2, 3));
        expectTextAccepted(renderApprovalCounted(counted, 1, 2));
        expectTextAccepted(renderReminder({ waitingFor: Array.from({ length: 400 }, (_, i) => `U0${String(i).padStart(8, '0')}`), votes: 1, required: 3, expiresAt: NOW }));
        const posted = { ...record, card: { channel: 'C0APPROVALS', ts: '1700000000.000100' } };
        expectTextAccepted(renderPostedNotice(posted, 'https://sandbox.slack.local/archives/C0APPROVALS/p1700000000000100'));
        expectTextAccepted(renderEndedNotice({ ...posted, decision: decided })!);
        expectTextAccepted(renderEndedNotice({ ...posted, cancelled: { reason: cancelReason, at: '2026-11-25T10:20:00.000Z' } })!);
      }),
      { numRuns: 40 },
    );
  });

  it('cuts never split a character: any cut of hostile text keeps its surrogate pairs whole', () => {
    const approval = maximalApproval();
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 12 }), lengthUpTo(LIMITS.reason), (pieces, length) => {
        const record = { ...approval, request: { ...approval.request, reason: textOf(pieces, length) } };
        expect(hasLoneSurrogate(JSON.stringify(renderRequestCard(record)))).toBe(false);
      }),
      { numRuns: 40 },
    );
  });
});
