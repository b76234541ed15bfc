import type { ActionsBlock, Button, KnownBlock, MrkdwnElement, SectionBlock } from '@slack/types';
import { z } from 'zod';
import type { Approval, Cancellation, CardBinding, CardLocation } from '../domain/approval.js';
import { normalizeHash, shortHash, type Decision, type Vote } from '../domain/contract.js';
import { expiresAt, requiredApprovals, type Route } from '../domain/routes.js';
import { code, escapeMrkdwn, plain, truncate, truncateMrkdwn } from './mrkdwn.js';

/** Action ids shared by the card and the click handlers. */
export const ACTION_APPROVE = 'approval_approve';
export const ACTION_DENY = 'approval_deny';
/** The overflow menu: "Approve with comment…", "Deny with reason…". */
export const ACTION_MORE = 'approval_more';

/** `metadata.event_type` of every card, so a retry can find a card a crashed attempt posted. */
export const CARD_EVENT_TYPE = 'approval_card';

// Slack's documented Block Kit limits (https://docs.slack.dev/reference/block-kit).
const HEADER_MAX = 150;
export const SECTION_TEXT_MAX = 3000;
const FIELD_MAX = 2000;
const FALLBACK_TEXT_MAX = 500;

/** What a card's buttons carry, compactly: approval id, card id, policy snapshot and job hash. */
const ButtonValueSchema = z.object({ a: z.string().min(1), c: z.string().min(1), s: z.string().min(1), j: z.string().min(1) });
export type ButtonValue = z.infer<typeof ButtonValueSchema>;

/** What a clicked button says its card was bound to; undefined for a value this bot did not render. */
export function parseButtonValue(value: string | undefined): CardBinding | undefined {
  try {
    const parsed = ButtonValueSchema.safeParse(JSON.parse(value ?? ''));
    if (!parsed.success) return undefined;
    const { a, c, s, j } = parsed.data;
    return { approvalId: a, cardId: c, policySnapshot: s, jobHash: j };
  } catch {
    // Not JSON: not a button of ours.
    return undefined;
  }
}

export interface RenderedCard {
  /** Plain-text fallback for notifications and screen readers. */
  text: string;
  blocks: KnownBlock[];
  metadata: { event_type: string; event_payload: { approval_id: string; card_id: string } };
}

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

/** What the route adds to a pending card: who is asked, how many approvals it needs, and those counted. */
export interface CardContext {
  requiredApprovals: number;
  /** Trusted user and user group IDs from the routes file, @-mentioned on the card. */
  mention?: string[];
  votes?: Vote[];
  /** When the approval expires (ms since the epoch); undefined: it waits until someone decides. */
  expiresAt?: number;
  /** Approve asks for confirmation in Slack's dialog first (a route's `confirm: dialog`). */
  confirm?: boolean;
  /** Trusted mrkdwn from the bot (built from validated IDs only), above the details: e.g. why the card is not where the request asked. */
  note?: string;
}

/** What the route adds to the card of a pending approval. */
export function cardContext(route: Route, approval: Approval, votes?: Vote[]): CardContext {
  const expiry = expiresAt(route, approval.request, approval.createdAt);
  return {
    requiredApprovals: requiredApprovals(route, approval.request),
    ...(route.confirm === 'dialog' ? { confirm: true } : {}),
    ...(route.mention ? { mention: route.mention } : {}),
    ...(votes ? { votes } : {}),
    ...(expiry !== undefined ? { expiresAt: expiry } : {}),
  };
}

/** The card for a pending approval: what is asked, why, its impact and limits, and the two buttons. */
export function renderRequestCard(approval: Approval, context: CardContext = { requiredApprovals: 1 }): RenderedCard {
  const [header, ...details] = renderDetails(approval);
  const note: KnownBlock[] = context.note ? [{ type: 'context', elements: [mrkdwn(`:warning: ${context.note}`)] }] : [];
  const asks = renderAsks(context);
  const mentions = (context.mention ?? []).map(mentionOf).join(' ');
  return {
    text: truncateMrkdwn(`${mentions ? `${mentions} ` : ''}${renderFallbackText(approval)}`, FALLBACK_TEXT_MAX),
    blocks: [header!, ...note, ...details, ...(asks ? [section(asks)] : []), renderButtonsFor(approval, context.confirm ?? false)],
    metadata: { event_type: CARD_EVENT_TYPE, event_payload: { approval_id: approval.id, card_id: approval.cardId } },
  };
}

function renderAsks(context: CardContext): string | undefined {
  const parts: string[] = [];
  if (context.mention?.length) parts.push(`*For:* ${context.mention.map(mentionOf).join(' ')}`);
  if (context.requiredApprovals > 1) {
    const votes = context.votes ?? [];
    const who = votes.length ? `: ${votes.map((vote) => mention(vote.id)).join(', ')}` : '';
    parts.push(`*Approvals:* ${votes.length} of ${context.requiredApprovals}${who}`);
  }
  if (context.expiresAt !== undefined) parts.push(`*Expires* ${slackDate(new Date(context.expiresAt).toISOString(), '{date_short_pretty} at {time}')}`);
  return parts.length ? parts.join('   ') : undefined;
}

/** A routes-file ID as a mention that notifies: users as <@U…>, user groups as <!subteam^S…>. */
function mentionOf(id: string): string {
  return /^S[A-Z0-9]{2,}$/.test(id) ? `<!subteam^${id}>` : mention(id);
}

/** The card once decided: the same details, the buttons replaced by the outcome, who and when. */
export function renderDecidedCard(approval: Approval, decision: Decision): Pick<RenderedCard, 'text' | 'blocks'> {
  const r = approval.request;
  const title = `${r.workflow ?? r.run_id}/${r.step_id}`;
  const outcome = renderOutcome(decision);
  const blocks: KnownBlock[] = [...renderDetails(approval), section(outcome)];
  if (decision.comment) blocks.push(section(`*Comment:* ${escapeMrkdwn(decision.comment)}`));
  const headline = { stale: 'Not decided (policy changed)', expired: 'Expired', approved: 'Approved', denied: 'Denied' }[decision.decision];
  return { text: truncateMrkdwn(escapeMrkdwn(`${headline}: ${title}`), FALLBACK_TEXT_MAX), blocks };
}

/** The card of an approval the engine cancelled: the details stay, the buttons go. */
export function renderCancelledCard(approval: Approval, cancellation: Cancellation): Pick<RenderedCard, 'text' | 'blocks'> {
  const r = approval.request;
  return {
    text: truncateMrkdwn(escapeMrkdwn(`Cancelled: ${r.workflow ?? r.run_id}/${r.step_id}: ${cancellation.reason}`), FALLBACK_TEXT_MAX),
    blocks: [...renderDetails(approval), section(`:no_entry_sign: *Cancelled* by the workflow ${slackDate(cancellation.at, '{date_short_pretty} at {time}')}: ${escapeMrkdwn(cancellation.reason)}`)],
  };
}

/** The card of a request replaced by a newer one for the same run and step. */
export function renderSupersededCard(approval: Approval, newer: CardLocation): Pick<RenderedCard, 'text' | 'blocks'> {
  const r = approval.request;
  return {
    text: truncateMrkdwn(escapeMrkdwn(`Superseded: ${r.workflow ?? r.run_id}/${r.step_id}`), FALLBACK_TEXT_MAX),
    blocks: [
      ...renderDetails(approval),
      section(`:arrows_counterclockwise: *Superseded* by a newer request for this step (another job hash or policy snapshot). Decide on the new card${newer.channel ? ` in <#${newer.channel}>` : ''}.`),
    ],
  };
}

/** One line saying how an approval ended, for the card and for later clickers. */
export function renderOutcome(decision: Decision): string {
  if (decision.decision === 'stale') {
    const inForce = decision.policy_snapshot_in_force ?? '';
    return `:warning: *Not decided: the policy changed since the request* (${code(shortHash(decision.policy_snapshot))} → ${code(shortHash(inForce))}). The run does not resume with this request.`;
  }
  const when = slackDate(decision.decided_at, '{date_short_pretty} at {time}');
  if (decision.decision === 'expired') return `:hourglass: *Expired* ${when}: nobody decided in time. The run does not resume with this request.`;
  if (decision.decision === 'denied') return `:no_entry: *Denied* by ${mention(decision.decided_by.id)} ${when}`;
  const approvals = decision.approvals ?? [];
  if (approvals.length > 1) return `:white_check_mark: *Approved* (${approvals.length} approvals) by ${approvals.map((vote) => mention(vote.id)).join(', ')}, last ${when}`;
  return `:white_check_mark: *Approved* by ${mention(decision.decided_by.id)} ${when}`;
}

/** A thread reply for one approval counted towards N: "@alice approved: 1 of 2", with their comment. */
export function renderApprovalCounted(vote: Vote, count: number, required: number): string {
  const comment = vote.comment ? `: “${escapeMrkdwn(truncate(vote.comment, 500))}”` : '';
  return `:ballot_box_with_check: ${mention(vote.id)} approved: ${count} of ${required}${comment}`;
}

/** A user mention, only for what is shaped like a Slack user ID (the signed payload's). */
export function mention(userId: string): string {
  return /^[UW][A-Z0-9]{2,}$/.test(userId) ? `<@${userId}>` : escapeMrkdwn(userId);
}

/** Slack's date formatting, so each reader sees their own time zone; the fallback is UTC. */
export function slackDate(iso: string, format: string): string {
  const ms = Date.parse(iso);
  const fallback = new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  return `<!date^${Math.floor(ms / 1000)}^${format}|${fallback}>`;
}

/** The request details every version of the card keeps: header, reason, impact, constraints, binding. */
export function renderDetails(approval: Approval): KnownBlock[] {
  const r = approval.request;
  const title = r.workflow ? `${r.workflow} › ${r.step_id}` : r.step_id;
  return [
    { type: 'header', text: { type: 'plain_text', text: truncate(plain(`Approval needed: ${title}`), HEADER_MAX), emoji: true } },
    section(`*Why:* ${escapeMrkdwn(r.reason)}`),
    {
      type: 'section',
      fields: [
        field('Risk', renderRiskTags(r.risk_tags)),
        field('Requested by', escapeMrkdwn(r.requested_by)),
        field('Policy rule', r.policy_rule ? escapeMrkdwn(r.policy_rule) : '_none named_'),
        field('Run', code(r.run_id)),
      ],
    },
    section(`*If approved, runs within:* ${renderConstraints(r.constraints)}`),
    {
      type: 'context',
      elements: [
        mrkdwn(
          truncateMrkdwn(
            `Policy snapshot ${code(shortHash(r.policy_snapshot))} · Job hash ${code(shortHash(r.job_hash))} · Step ${code(r.step_id)}`,
            SECTION_TEXT_MAX,
          ),
        ),
      ],
    },
  ];
}

/** Approve and Deny, carrying what the card is bound to; the same on the card and in `/approvals`. */
export function renderButtonsFor(approval: Approval, confirm = false): ActionsBlock {
  const value = JSON.stringify({
    a: approval.id,
    c: approval.cardId,
    s: normalizeHash(approval.request.policy_snapshot),
    j: normalizeHash(approval.request.job_hash),
  } satisfies ButtonValue);
  const button = (text: string, action_id: string, style: 'primary' | 'danger'): Button => ({
    type: 'button',
    text: { type: 'plain_text', text, emoji: true },
    action_id,
    style,
    value,
  });
  // Overflow values are capped at 150 characters: they name the approval and the card only; the
  // modal's submit checks the rest of the binding against the record.
  const option = (text: string, action: 'approve' | 'deny') => ({ text: { type: 'plain_text' as const, text }, value: `${action}:${approval.id}:${approval.cardId}` });
  return {
    type: 'actions',
    block_id: `approval_${approval.cardId}`,
    elements: [
      confirm ? { ...button('Approve', ACTION_APPROVE, 'primary'), confirm: renderConfirm(approval) } : button('Approve', ACTION_APPROVE, 'primary'),
      button('Deny', ACTION_DENY, 'danger'),
      { type: 'overflow', action_id: ACTION_MORE, options: [option('Approve with comment…', 'approve'), option('Deny with reason…', 'deny')] },
    ],
  };
}

/** Slack's confirmation dialog for Approve: names the run, the step and the impact ("Approve a prod write to run_8f9a/remediate?"). */
function renderConfirm(approval: Approval): NonNullable<Button['confirm']> {
  const r = approval.request;
  const impact = r.risk_tags.length ? `${r.risk_tags.join(' ')} ` : '';
  return {
    title: { type: 'plain_text', text: 'Approve this step?' },
    text: { type: 'plain_text', text: truncate(plain(`Approve a ${impact}action on ${r.run_id}/${r.step_id}? ${r.reason}`), 300) },
    confirm: { type: 'plain_text', text: 'Approve' },
    deny: { type: 'plain_text', text: 'Cancel' },
    style: 'primary',
  };
}

/** What an overflow option names: the action, the approval and its card; undefined for a value this bot did not render. */
export function parseOverflowValue(value: string | undefined): { action: 'approve' | 'deny'; approvalId: string; cardId: string } | undefined {
  const match = /^(approve|deny):(ap[0-9a-f]{32}):([0-9a-f]{16})$/.exec(value ?? '');
  return match ? { action: match[1] as 'approve' | 'deny', approvalId: match[2]!, cardId: match[3]! } : undefined;
}

function renderRiskTags(tags: string[]): string {
  if (tags.length === 0) return '_none tagged_';
  return tags.map((tag) => `${RISK_EMOJI[tag.toLowerCase()] ?? ':small_orange_diamond:'} ${code(tag)}`).join('  ');
}

const CONSTRAINT_MAX = 300;
const CONSTRAINTS_BUDGET = SECTION_TEXT_MAX - 100;

/** Compact `key value · key value` pairs; what does not fit is counted, never silently dropped. */
function renderConstraints(constraints: Record<string, string | number | boolean> | undefined): string {
  const pairs = Object.entries(constraints ?? {}).map(([key, value]) =>
    truncateMrkdwn(`${code(key)} ${escapeMrkdwn(String(value))}`, CONSTRAINT_MAX),
  );
  if (pairs.length === 0) return '_no constraints_';
  let shown = pairs.length;
  while (shown > 1 && pairs.slice(0, shown).join(' · ').length > CONSTRAINTS_BUDGET) shown -= 1;
  const more = pairs.length - shown;
  return pairs.slice(0, shown).join(' · ') + (more > 0 ? ` · _and ${more} more_` : '');
}

function renderFallbackText(approval: Approval): string {
  const r = approval.request;
  const tags = r.risk_tags.length > 0 ? ` [${r.risk_tags.join(', ')}]` : '';
  return truncateMrkdwn(escapeMrkdwn(`Approval needed: ${r.workflow ?? r.run_id}/${r.step_id}${tags}: ${r.reason}`), FALLBACK_TEXT_MAX);
}

export function mrkdwn(text: string): MrkdwnElement {
  // verbatim: Slack must not auto-link names or parse mentions in requester-supplied text.
  return { type: 'mrkdwn', text, verbatim: true };
}

export function section(text: string): SectionBlock {
  return { type: 'section', text: mrkdwn(truncateMrkdwn(text, SECTION_TEXT_MAX)) };
}

function field(label: string, value: string): MrkdwnElement {
  return mrkdwn(truncateMrkdwn(`*${label}*\n${value}`, FIELD_MAX));
}
