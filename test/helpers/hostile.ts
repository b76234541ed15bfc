import fc from 'fast-check';
import { createApproval, JOB_PREVIEW_MAX, type ApprovalRecord } from '../../src/domain/approval.js';
import { LIMITS, parseRequest } from '../../src/domain/contract.js';

/**
 * Hostile requests for property tests: every text field made of pieces that Slack would act on or
 * that are hard to cut, at lengths at and past every limit, with every optional field present or
 * absent.
 */

/**
 * What hostile text is made of: the marks of Slack's mrkdwn (bold, italics, strikethrough, code,
 * quotes, emoji codes), the characters escaping makes five long, mention and link syntax, the bot's
 * own words, characters of two code units (emoji), ZWJ sequences, flags, combining marks and bidi
 * controls. Literal emoji here are none the bot uses or an emoji code of the pieces shows.
 */
export const PIECES = [
  '&', '<', '>', '*', '_', '~', '`', '```', ':', ' ', '\n', '> ', 'x', '字',
  ':tada:', ':white_check_mark:', ':no_entry:', ':fire::rocket:', ':x:',
  '*Approved*', '_urgent_', '~struck~', '*Approved* by alice', ':white_check_mark: *Approved* by @alice — no action needed',
  'e\u0301', 'a\u0301\u0302\u0303\u0304', '😀', '👩\u200D💻', '🇫🇷', '\u202E', '\u200B',
  '<!channel>', '<@U0ADMIN>', '<https://evil.example|Approve>', '&amp;',
];

/** The literal emoji among {@link PIECES}, as `\p{Extended_Pictographic}` finds them. */
export const LITERAL_EMOJI = ['😀', '👩', '💻'];

/**
 * Text of exactly `length` UTF-16 code units made of `pieces` in turn, a piece that would not fit
 * replaced by `x`s (so no surrogate pair is split by the making).
 */
export function textOf(pieces: readonly string[], length: number): string {
  let text = '';
  for (let i = 0; text.length < length; i += 1) {
    const piece = pieces[i % pieces.length]!;
    text += text.length + piece.length <= length ? piece : 'x'.repeat(length - text.length);
  }
  return text;
}

/** A length from 1 to `max`, often exactly `max` or 1. */
export const lengthUpTo = (max: number) => fc.oneof(fc.constant(max), fc.constant(1), fc.integer({ min: 1, max }));

/** Hostile text of a length from 1 to `max` (often at the limit). */
export const hostileText = (max: number) =>
  fc.tuple(fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 12 }), lengthUpTo(max)).map(([pieces, length]) => textOf(pieces, length));

/** Contract-valid request data, hostile in every text field, at and below every limit of the contract. */
export const hostileRequestData: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      run_id: hostileText(LIMITS.id),
      step_id: hostileText(LIMITS.id),
      workflow: hostileText(LIMITS.name),
      requested_by: hostileText(LIMITS.name),
      reason: hostileText(LIMITS.reason),
      policy_rule: hostileText(LIMITS.name),
      risk_tags: fc.array(hostileText(LIMITS.riskTag), { maxLength: LIMITS.riskTags }),
      constraints: fc.array(fc.tuple(hostileText(LIMITS.constraintKey - 2), fc.oneof(hostileText(LIMITS.constraintValue), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean())), {
        maxLength: LIMITS.constraints,
      }),
      policy_snapshot: fc.constantFrom('sha256:' + 'a'.repeat(128), 'abcdef12', '7F3D1A2B9C0E4F5A'),
      job_hash: fc.constantFrom('sha256:' + 'B'.repeat(128), '0123abcd'),
    },
    { requiredKeys: ['run_id', 'step_id', 'requested_by', 'reason', 'risk_tags', 'policy_snapshot', 'job_hash'] },
  )
  .map(({ constraints, ...rest }) => ({
    ...rest,
    // Keys must differ: a two-digit index ends each one.
    ...(constraints ? { constraints: Object.fromEntries(constraints.map(([key, value], i) => [key + String(i).padStart(2, '0'), value])) } : {}),
  }))
  .filter((data) => parseRequest(data).ok);

/** A pending approval record for the data, with a job preview of hostile text up to the preview's maximum (or none). */
export const hostileRecord: fc.Arbitrary<ApprovalRecord> = fc
  .tuple(hostileRequestData, fc.option(hostileText(JOB_PREVIEW_MAX), { nil: undefined }))
  .map(([data, jobPreview]) => {
    const parsed = parseRequest(data);
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    return { ...createApproval(parsed.request, Date.UTC(2026, 10, 25, 12)), ...(jobPreview ? { jobPreview } : {}), cardId: '0123456789abcdef', votes: [] };
  });
