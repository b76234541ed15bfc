import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createApproval } from '../../src/domain/approval.js';
import { ACTION_APPROVE, ACTION_DENY, CARD_EVENT_TYPE, parseOverflowValue, renderCancelledCard, renderDecidedCard, renderRequestCard, renderSpan, renderSupersededCard, type ButtonValue } from '../../src/views/cards.js';
import { LIMITS, parseRequest } from '../../src/domain/contract.js';
import { checkBlocks } from '../../sandbox/block-kit-rules.js';
import { validRequest } from '../../sandbox/valid-request.js';

function approvalFor(data: Record<string, unknown>) {
  const parsed = parseRequest(data);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return { ...createApproval(parsed.request, Date.UTC(2026, 10, 25)), cardId: '0123456789abcdef' };
}

function allText(card: ReturnType<typeof renderRequestCard>): string {
  return JSON.stringify(card);
}

const HOSTILE = ['<!channel>', '<!here>', '<!everyone>', '<@U0ADMIN>', '<#C0SECRET>', '<!subteam^S0ONCALL>', '<https://evil.example|Approve>', '<http://x>', '&', '&lt;', '*bold*', '`', '\u202E', '\u200B', '\n'];

const hostileText = (maxLength: number) =>
  fc
    .array(fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ unit: 'grapheme', maxLength: 400 })), { maxLength: 60 })
    .map((parts) => parts.join('').slice(0, maxLength))
    .filter((text) => text.trim().length > 0);

const arbitraryRequest: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    run_id: hostileText(LIMITS.id),
    step_id: hostileText(LIMITS.id),
    workflow: fc.option(hostileText(LIMITS.name), { nil: undefined }),
    requested_by: hostileText(LIMITS.name),
    reason: fc.oneof(hostileText(LIMITS.reason), fc.constant('r'.repeat(LIMITS.reason))),
    policy_rule: fc.option(hostileText(LIMITS.name), { nil: undefined }),
    risk_tags: fc.array(hostileText(LIMITS.riskTag), { maxLength: LIMITS.riskTags }),
    constraints: fc.option(
      fc.dictionary(
        fc.string({ minLength: 1, maxLength: LIMITS.constraintKey }),
        fc.oneof(fc.string({ maxLength: LIMITS.constraintValue }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean()),
        { maxKeys: LIMITS.constraints },
      ),
      { nil: undefined },
    ),
    policy_snapshot: fc.stringMatching(/^(sha256:)?[0-9a-f]{8,128}$/),
    job_hash: fc.stringMatching(/^[0-9A-F]{8,128}$/),
  })
  .map((r) => ({ ...r, job: undefined }))
  .filter((r) => parseRequest(r).ok);

describe('the request card', () => {
  it('shows why, the impact, the limits, who asked, the rule and the binding, with its buttons and menu', () => {
    const job = { sql: 'UPDATE orders SET status = $1', params: ['shipped'] };
    const approval = approvalFor(validRequest({ run_id: 'run_8f9a', job, job_hash: 'sha256:8cc1d2bd9acdc614f6db69703ec68902356b23563dbc82181a93778d6d1eab21' }));
    const card = renderRequestCard(approval);
    expect(card.blocks).toMatchSnapshot();
    expect(card.text).toBe('Approval needed: incident-triage/remediate [prod, write]: prod write detected');
    expect(card.metadata).toEqual({ event_type: CARD_EVENT_TYPE, event_payload: { approval_id: approval.id, card_id: '0123456789abcdef' } });
  });

  it('puts Approve (primary) and Deny (danger) last, each carrying what the card is bound to', () => {
    const approval = approvalFor(validRequest({ policy_snapshot: 'sha256:ABCDEF0123456789' }));
    const actions = renderRequestCard(approval).blocks.at(-1)!;
    expect(actions.type).toBe('actions');
    const [approve, deny, more] = (actions as unknown as { elements: { action_id: string; style: string; value: string; options: { value: string }[] }[] }).elements;
    expect([approve!.action_id, approve!.style, deny!.action_id, deny!.style]).toEqual([ACTION_APPROVE, 'primary', ACTION_DENY, 'danger']);
    expect(more!.options.map((o) => o.value)).toEqual([`approve:${approval.id}:${approval.cardId}`, `deny:${approval.id}:${approval.cardId}`]);
    expect(parseOverflowValue(more!.options[1]!.value)).toEqual({ action: 'deny', approvalId: approval.id, cardId: approval.cardId });
    expect(parseOverflowValue('deny:apXYZ:1234')).toBeUndefined();
    const value = JSON.parse(approve!.value) as ButtonValue;
    expect(value).toEqual({ a: approval.id, c: approval.cardId, s: 'abcdef0123456789', j: approval.request.job_hash.replace('sha256:', '') });
  });

  it('says so plainly when there are no risk tags, constraints, rule or workflow', () => {
    const approval = approvalFor({ run_id: 'r1', step_id: 'step', requested_by: 'engine', reason: 'why', policy_snapshot: 'abcdef12', job_hash: 'abcdef12', risk_tags: [] });
    const text = allText(renderRequestCard(approval));
    expect(text).toContain('_none tagged_');
    expect(text).toContain('_no constraints_');
    expect(text).toContain('"text":"*Policy rule*\\n_none named_"');
    // No workflow: the line under the header names the step alone.
    expect(text).toContain('"elements":[{"type":"mrkdwn","text":"`step`","verbatim":true}]');
  });

  it('renders hostile text literally: no mention, no hidden link', () => {
    const approval = approvalFor(
      validRequest({ reason: '<!channel> please <https://evil.example|click to approve> & <@U0ADMIN>', workflow: '<!here> wf', requested_by: '<@U0BOSS>' }),
    );
    const text = allText(renderRequestCard(approval));
    expect(text).not.toMatch(/<[!@#]|<https?:/);
    expect(text).toContain('&lt;!channel&gt; please &lt;https://evil.example|click to approve&gt; &amp; &lt;@U0ADMIN&gt;');
    expect(text).toContain('"text":"`&lt;!here&gt; wf` › `remediate`"');
  });

  it('counts the constraints it could not show', () => {
    const constraints = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`limit_${i}`, 'v'.repeat(200)]));
    const text = allText(renderRequestCard(approvalFor(validRequest({ constraints }))));
    expect(text).toMatch(/_and \d+ more_/);
  });

  it('for any valid request: Slack accepts the blocks, and no mention or link from input survives', () => {
    fc.assert(
      fc.property(arbitraryRequest, (data) => {
        const card = renderRequestCard(approvalFor(data));
        expect(checkBlocks(card.blocks)).toEqual([]);
        expect(card.text.length).toBeLessThanOrEqual(500);
        expect(allText(card)).not.toMatch(/<[!@#]|<https?:/i);
      }),
      { numRuns: 300 },
    );
  });
});

describe('time and people on the card', () => {
  it.each([
    [20_000, '20 s'],
    [59_999, '59 s'],
    [45 * 60_000, '45 min'],
    [23 * 3600_000 + 59 * 60_000, '23 h'],
    [72 * 3600_000, '3 d'],
  ])('says a span of %i ms as %s', (ms, said) => {
    expect(renderSpan(ms)).toBe(said);
  });

  it('says when it expires in each reader’s time zone, and how long after the request that is', () => {
    const approval = approvalFor(validRequest());
    const card = renderRequestCard(approval, { requiredApprovals: 1, expiresAt: approval.createdAt + 23 * 3600_000 + 59 * 60_000, requestedAt: approval.createdAt });
    const expiry = Math.floor((approval.createdAt + 23 * 3600_000 + 59 * 60_000) / 1000);
    expect(allText(card)).toContain(`*Expires* <!date^${expiry}^{date_short_pretty} at {time}|2026-11-25 23:59 UTC> (23 h after the request)`);
  });

  it('names the person who started the run, and who is asked with the approvals so far', () => {
    const approval = approvalFor(validRequest({ initiated_by: 'U0DAVE' }));
    const text = allText(renderRequestCard(approval, { requiredApprovals: 2, mention: ['S0ONCALL'], votes: [] }));
    expect(text).toContain('"text":"*Started by*\\n<@U0DAVE>"');
    expect(text).toContain('*For:* <!subteam^S0ONCALL>   *Approvals:* 0 of 2');
  });
});

describe('outcome at a glance', () => {
  const approval = approvalFor(validRequest({ workflow: 'incident-triage', step_id: 'remediate' }));
  const decided = (decision: 'approved' | 'denied' | 'expired' | 'stale') =>
    renderDecidedCard(approval, { run_id: 'r', step_id: 's', decision, decided_by: { id: 'U0ALICE', name: 'alice' }, decided_at: '2026-11-25T10:00:00.000Z', policy_snapshot: 'abcdef12', job_hash: 'abcdef12', constraints: {}, ...(decision === 'stale' ? { policy_snapshot_in_force: 'ffffffff' } : {}) });

  it.each([
    ['approved', ':white_check_mark: Approved'],
    ['denied', ':no_entry: Denied'],
    ['expired', ':hourglass: Expired'],
    ['stale', ':warning: Not decided: the policy changed'],
  ] as const)('a %s card says so in its header, with the workflow and step right under it', (decision, headline) => {
    const { blocks } = decided(decision);
    expect(blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: headline, emoji: true } });
    expect(blocks[1]).toEqual({ type: 'context', elements: [{ type: 'mrkdwn', text: '`incident-triage` › `remediate`', verbatim: true }] });
  });

  it('cancelled and superseded cards say so in their header too', () => {
    expect(renderCancelledCard(approval, { reason: 'run aborted', at: '2026-11-25T10:00:00.000Z' }).blocks[0]).toMatchObject({ text: { text: ':no_entry_sign: Cancelled' } });
    expect(renderSupersededCard(approval, { channel: 'C0APPROVALS', ts: '1.2' }).blocks[0]).toMatchObject({ text: { text: ':arrows_counterclockwise: Superseded' } });
  });
});
