import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createApproval, type ApprovalRecord } from '../../src/domain/approval.js';
import { parseRequest, type Decision } from '../../src/domain/contract.js';
import { renderEndedNotice, renderPostedNotice } from '../../src/intake/requester-notice.js';
import { renderApprovalCounted, renderCancelledCard, renderDecidedCard, renderRequestCard, renderSupersededCard } from '../../src/views/cards.js';
import { renderDecideModal } from '../../src/views/decide-modal.js';
import { renderPendingList } from '../../src/views/pending-list.js';
import { renderRefusal } from '../../src/views/replies.js';
import { blocksToHtml } from '../../sandbox/block-kit-html.js';
import { mrkdwnToHtml, type DisplayContext } from '../../sandbox/mrkdwn-html.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { hostileRecord, hostileText, LITERAL_EMOJI } from '../helpers/hostile.js';

/**
 * Requester text can never look like the gate's own lines. The judge is the sandbox's renderer of
 * mrkdwn and plain text to HTML (as Slack's clients show them): bold, italics, strikethrough and
 * emoji are what it makes of them.
 */

const display: DisplayContext = { userName: () => undefined, channelName: () => undefined, groupName: () => undefined, timeZone: 'UTC' };
const NOW = Date.UTC(2026, 10, 25, 12, 30);
const AT = '2026-11-25T10:20:00.000Z';

function cardFor(overrides: Record<string, unknown>) {
  const parsed = parseRequest(validRequest(overrides));
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return renderRequestCard({ ...createApproval(parsed.request, Date.UTC(2026, 10, 25)), cardId: '0123456789abcdef' });
}

/** The card as Slack shows it (the sandbox's renderer), one entry per block. */
const shown = (blocks: unknown[]) => blocks.map((block) => blocksToHtml([block], display));

/**
 * The same approval with every text the requester controls replaced by plain words: the same
 * optional fields present, as many risk tags and constraints. What the gate writes itself shows on
 * both alike.
 */
function twinOf(record: ApprovalRecord): ApprovalRecord {
  const r = record.request;
  return {
    ...record,
    ...(record.jobPreview ? { jobPreview: sameShape(record.jobPreview) } : {}),
    request: {
      ...r,
      run_id: 'run',
      step_id: 'step',
      requested_by: 'someone',
      reason: 'because',
      risk_tags: r.risk_tags.map((_, i) => `t${i}`),
      ...(r.workflow ? { workflow: 'flow' } : {}),
      ...(r.policy_rule ? { policy_rule: 'rule' } : {}),
      ...(r.constraints ? { constraints: Object.fromEntries(Object.keys(r.constraints).map((_, i) => [`k${i}`, 'v'])) } : {}),
    },
  };
}

/**
 * Plain text of the same lines and the same length once escaped as code (`&` is five characters,
 * `<` and `>` four), so that the card cuts the twin's job where it cuts the original's.
 */
function sameShape(preview: string): string {
  return preview.replace(/[^\n&<>]/g, 'x').replace(/&/g, 'xxxxx').replace(/[<>]/g, 'xxxx');
}

/** Every message the gate sends about an approval, as HTML, given what the requester (or a reviewer) said. */
function everyMessage(record: ApprovalRecord, said: string, argument: string): string[] {
  const decision = (overrides: Partial<Decision>): Decision => ({
    run_id: record.request.run_id,
    step_id: record.request.step_id,
    decision: 'approved',
    decided_by: { id: 'U0ALICE', name: 'alice' },
    decided_at: AT,
    policy_snapshot: record.request.policy_snapshot,
    job_hash: record.request.job_hash,
    constraints: {},
    ...overrides,
  });
  const endings = [
    decision({ comment: said }),
    decision({ comment: said, approvals: [{ id: 'U0ALICE', name: 'alice', at: AT }, { id: 'U0BOB', name: 'bob', at: AT, comment: said }] }),
    decision({ decision: 'denied', comment: said }),
    decision({ decision: 'stale', decided_by: { id: 'policy', name: 'policy' }, policy_snapshot_in_force: 'abcdef1234' }),
    decision({ decision: 'expired', decided_by: { id: 'expiry', name: 'expiry' } }),
  ];
  const posted = { ...record, card: { channel: 'C0APPROVALS', ts: '1700000000.000100' } };
  const cards = [
    renderRequestCard(record, { requiredApprovals: 2, votes: [{ id: 'U0BOB', name: 'bob', at: AT, comment: said }], mention: ['S0ONCALL'], expiresAt: NOW, confirm: true }),
    ...endings.map((ending) => renderDecidedCard(record, ending)),
    renderCancelledCard(record, { reason: said, at: AT }),
    renderSupersededCard(record, { channel: 'C0APPROVALS', ts: '1.000002' }),
    renderPendingList([{ record, expiresAt: NOW + 60_000, requiredApprovals: 2, confirm: false, permalink: undefined }], { mine: false, riskTag: argument }, NOW),
    renderPendingList([], { mine: true, riskTag: argument }, NOW),
  ];
  const texts = [
    renderPostedNotice(posted, undefined),
    ...endings.map((ending) => renderEndedNotice({ ...posted, decision: ending })!),
    renderEndedNotice({ ...posted, cancelled: { reason: said, at: AT } })!,
    renderRefusal({ reason: 'cancelled', cancellation: { reason: said, at: AT } }),
    renderApprovalCounted({ id: 'U0BOB', name: 'bob', at: AT, comment: said }, 1, 2),
  ];
  return [
    ...cards.flatMap((card) => [blocksToHtml(card.blocks, display), mrkdwnToHtml(card.text, display)]),
    blocksToHtml(renderDecideModal(record, 'approve', { typed: true }).blocks, display),
    ...texts.map((text) => mrkdwnToHtml(text, display)),
  ];
}

// The gate's own italics that show or not with the length of what was sent (the twin's is short).
const CUT_NOTES = /^i:(and # more|… the rest is not shown here; the job hash covers the whole job\.)$/;

/** How often each bold, italic or struck text shows (code spans inside them, counts and cut notes left out). */
function formatted(html: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [, tag, inner] of html.matchAll(/<(b|i|s)>(.*?)<\/\1>/g)) {
    const key = `${tag}:${inner!.replace(/<code>.*?<\/code>/g, '<code/>').replace(/\d+/g, '#')}`;
    if (!CUT_NOTES.test(key)) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** How often each emoji shows. */
function emoji(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [found] of text.matchAll(/\p{Extended_Pictographic}/gu)) counts.set(found, (counts.get(found) ?? 0) + 1);
  return counts;
}

describe('requester text cannot imitate the gate', () => {
  it('a reason written as the bot’s outcome line shows as plain text: not bold, no emoji, above the buttons', () => {
    const reason = ':white_check_mark: *Approved* by @alice (auto-approval) — no action needed';
    const html = shown(cardFor({ reason }).blocks).join('');
    expect(html).not.toMatch(/<b>Approved<\/b>/);
    expect(html).not.toContain('✅');
    expect(html).toContain('Approved');
  });

  it('a workflow named like an outcome stays out of the header, in code right under it', () => {
    const card = cardFor({ workflow: 'nightly ✅ Approved' });
    const header = card.blocks.find((block) => block.type === 'header');
    expect(JSON.stringify(header)).not.toContain('nightly');
    expect(card.blocks[1]).toMatchObject({ type: 'context' });
    expect(shown([card.blocks[1]])[0]).toMatch(/<code>nightly ✅ Approved<\/code>/);
  });

  it('the outcome line stays the bot’s: in the header and in bold, with its emoji', () => {
    const parsed = parseRequest(validRequest({ reason: '*Denied* ~no~ _maybe_' }));
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const approval = createApproval(parsed.request, NOW);
    const decided = renderDecidedCard(approval, { run_id: 'r', step_id: 's', decision: 'approved', decided_by: { id: 'U0ALICE', name: 'alice' }, decided_at: AT, policy_snapshot: 'abcdef12', job_hash: 'abcdef12', constraints: {} });
    const html = shown(decided.blocks);
    expect(html[0]).toBe('<div class="bk-header">✅ Approved</div>');
    expect(html.join('')).toContain('✅ <b>Approved</b> by');
    expect(html.join('')).not.toMatch(/<b>Denied<\/b>|<s>no<\/s>|<i>maybe<\/i>/);
  });

  it('for any requester text, no message shows more bold, italics, strikethrough or emoji than the gate’s own', () => {
    fc.assert(
      fc.property(hostileRecord, hostileText(1200), hostileText(600), (record, said, argument) => {
        const hostile = everyMessage(record, said, argument);
        const plain = everyMessage(twinOf(record), 'ok', 'prod');
        hostile.forEach((html, i) => {
          const expected = formatted(plain[i]!);
          for (const [span, count] of formatted(html)) expect({ span, count }).toEqual({ span, count: Math.min(count, expected.get(span) ?? 0) });
          const allowed = emoji(plain[i]!);
          // The emoji the requester typed as such show as typed; none is one the gate uses or an emoji code makes.
          for (const [found, count] of emoji(html)) if (!LITERAL_EMOJI.includes(found)) expect(count, `${found} in message ${i}`).toBeLessThanOrEqual(allowed.get(found) ?? 0);
        });
      }),
      { numRuns: 15 },
    );
  });
});
