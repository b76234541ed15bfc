import type { KnownBlock } from '@slack/types';
import type { Approval } from '../domain/approval.js';
import { shortHash } from '../domain/contract.js';
import { context, field, FIELD_MAX, joinWithin, section, SECTION_TEXT_MAX } from './blocks.js';
import type { Cut } from './budget.js';
import { jobCodeText, jobExcerpt, renderJobSection } from './job-preview.js';
import { code, codeText, enoughFor, literal, literalLine, quote, truncateMrkdwn } from './mrkdwn.js';

/**
 * The request details every version of a card keeps: why, the step and who asked, the impact,
 * the job's first lines, the limits that apply, and the binding. Everything the requester wrote shows literally (see
 * {@link literal}): quoted, in labelled fields or in code, never as the bot's own line.
 */

/** How much of the request the details show, in characters after escaping unless said otherwise. */
export interface DetailLimits {
  /** The reason, quoted. */
  reason: number;
  /** Each of the workflow, step id, run id, requested_by and policy rule. */
  name: number;
  /** How many risk tags are shown (the others are counted). */
  tags: number;
  /** How many constraints are shown (the others are counted). */
  constraints: number;
  /** Each constraint's value. */
  constraintValue: number;
  /** The job's first lines, as escaped code (at most CARD_JOB_LINES lines, see job-preview.ts). */
  job: number;
}

/**
 * The most a card shows, so that it reads at a glance even for the largest request (the sandbox's
 * oversized sample made a card about 1,900 px tall): the reason's first 1,000 characters, 12 risk
 * tags, 10 constraints of 80 characters each, the job's first lines; what is left out is counted or
 * marked with "…". The decision carries every constraint whatever the card shows.
 */
export const FULL_DETAILS: DetailLimits = { reason: 1000, name: 400, tags: 12, constraints: 10, constraintValue: 80, job: 600 };

/**
 * What to cut when a card would not fit Slack's budget, the least needed to decide first: the long
 * tail of the reason, then constraint values, then the risk tag list; then deeper. The binding, the
 * outcome, who asked and the buttons are never cut. At the floors the details measure under 3,000.
 */
export const DETAIL_CUTS: readonly Cut<DetailLimits>[] = [
  { limit: 'reason', floor: 1000 },
  { limit: 'constraintValue', floor: 60 },
  { limit: 'job', floor: 300 },
  { limit: 'tags', floor: 8 },
  { limit: 'constraints', floor: 12 },
  { limit: 'reason', floor: 300 },
  { limit: 'name', floor: 100 },
  { limit: 'constraintValue', floor: 20 },
  { limit: 'tags', floor: 3 },
  { limit: 'constraints', floor: 3 },
  { limit: 'job', floor: 100 },
];

// A risk tag or a constraint key is a short name; past these it is cut.
const TAG_MAX = 80;
const CONSTRAINT_KEY_MAX = 120;

const RISK_EMOJI: Record<string, string> = {
  prod: ':red_circle:',
  production: ':red_circle:',
  write: ':pencil2:',
  delete: ':wastebasket:',
  schema: ':card_file_box:',
  network: ':globe_with_meridians:',
  egress: ':globe_with_meridians:',
  secrets: ':key:',
  infra: ':building_construction:',
};

/**
 * The request's texts made safe once (escaped, shown literally, quoted), so that fitting a card to
 * the budget only cuts them. Names and tags are kept as the text inside their code spans.
 */
export interface PreparedDetails {
  reason: string;
  workflow: string | undefined;
  step: string;
  run: string;
  requestedBy: string;
  policyRule: string | undefined;
  /** `initiated_by`: a Slack user ID (the contract's pattern), shown as a mention. */
  initiatedBy: string | undefined;
  tags: { emoji: string; code: string }[];
  constraints: { key: string; value: string }[];
  binding: string;
  /** The stored job preview as code text ({@link jobCodeText}), and the card its button names; undefined without a job. */
  job: { text: string; approval: Pick<Approval, 'id' | 'cardId'> } | undefined;
}

export function prepareDetails(approval: Approval): PreparedDetails {
  const r = approval.request;
  return {
    reason: quote(literal(enoughFor(r.reason, FULL_DETAILS.reason))),
    workflow: r.workflow === undefined ? undefined : codeText(r.workflow),
    step: codeText(r.step_id),
    run: codeText(r.run_id),
    requestedBy: literalLine(r.requested_by),
    policyRule: r.policy_rule === undefined ? undefined : literalLine(r.policy_rule),
    initiatedBy: r.initiated_by !== undefined && /^[UW][A-Z0-9]{2,}$/.test(r.initiated_by) ? r.initiated_by : undefined,
    tags: r.risk_tags.map((tag) => ({ emoji: RISK_EMOJI[tag.toLowerCase()] ?? ':small_orange_diamond:', code: inCode(codeText(tag), TAG_MAX) })),
    constraints: Object.entries(r.constraints ?? {}).map(([key, value]) => ({
      key: inCode(codeText(key), CONSTRAINT_KEY_MAX),
      value: literal(enoughFor(String(value).replace(/\s+/g, ' '), FULL_DETAILS.constraintValue)),
    })),
    job: approval.jobPreview ? { text: jobCodeText(approval.jobPreview), approval: { id: approval.id, cardId: approval.cardId } } : undefined,
    binding: `Policy snapshot ${code(shortHash(r.policy_snapshot))} · Job hash ${code(shortHash(r.job_hash))}`,
  };
}

/**
 * The details, within `limits`: the workflow and step (right under the header, in code: they are the
 * requester's, so never in the header itself), why, the fields, the job, the constraints and the binding.
 */
export function renderDetails(details: PreparedDetails, limits: DetailLimits): KnownBlock[] {
  const workflow = details.workflow === undefined ? '' : `${inCode(details.workflow, limits.name)} › `;
  return [
    context(`${workflow}${inCode(details.step, limits.name)}`),
    section(`*Why*\n${truncateMrkdwn(details.reason, limits.reason)}`),
    {
      type: 'section',
      fields: [
        field('Risk', renderRiskTags(details.tags, limits.tags)),
        field('Requested by', truncateMrkdwn(details.requestedBy, limits.name)),
        field('Policy rule', details.policyRule === undefined ? '_none named_' : truncateMrkdwn(details.policyRule, limits.name)),
        field('Run', inCode(details.run, limits.name)),
        ...(details.initiatedBy ? [field('Started by', `<@${details.initiatedBy}>`)] : []),
      ],
    },
    ...(details.job ? [renderJobSection(details.job.approval, jobExcerpt(details.job.text, limits.job))] : []),
    section(`*If approved, runs within:* ${renderConstraints(details.constraints, limits)}`),
    context(details.binding),
  ];
}

/** A code span around escaped text, cut to `max` characters inside it. */
function inCode(text: string, max: number): string {
  return `\`${truncateMrkdwn(text, max)}\``;
}

/** The bot's emoji for a tag, then the tag in code; what does not fit is counted. */
function renderRiskTags(tags: PreparedDetails['tags'], shown: number): string {
  if (tags.length === 0) return '_none tagged_';
  const parts = tags.slice(0, shown).map((tag) => `${tag.emoji} ${tag.code}`);
  return withCount(parts, tags.length, '  ', FIELD_MAX - 'Risk'.length - 3);
}

/** Compact `key value · key value` pairs; what does not fit is counted, never silently dropped. */
function renderConstraints(constraints: PreparedDetails['constraints'], limits: DetailLimits): string {
  if (constraints.length === 0) return '_no constraints_';
  const pairs = constraints.slice(0, limits.constraints).map(({ key, value }) => `${key} ${truncateMrkdwn(value, limits.constraintValue)}`);
  return withCount(pairs, constraints.length, ' · ', SECTION_TEXT_MAX - 100);
}

/** As many of `parts` as fit in `max`, then how many of `total` are not shown (those not rendered included). */
function withCount(parts: string[], total: number, separator: string, max: number): string {
  const more = (left: number) => `_and ${left} more_`;
  const unrendered = total - parts.length;
  // Room for the count of those never rendered, which joinWithin cannot see.
  const joined = joinWithin(parts, separator, max - (unrendered > 0 ? separator.length + more(total).length : 0), (left) => more(left + unrendered));
  return unrendered > 0 && !joined.endsWith(' more_') ? `${joined}${separator}${more(unrendered)}` : joined;
}
