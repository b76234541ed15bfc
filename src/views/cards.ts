import type { ActionsBlock, Button, KnownBlock } from '@slack/types';
import { z } from 'zod';
import type { Approval, Cancellation, CardBinding, CardLocation } from '../domain/approval.js';
import { normalizeHash, shortHash, type Decision, type Vote } from '../domain/contract.js';
import { expiresAt, requiredApprovals, type Route } from '../domain/routes.js';
import { CONFIRM_TEXT_MAX, header, joinWithin, mrkdwn, plainText, section, SECTION_TEXT_MAX } from './blocks.js';
import { FALLBACK_TEXT_MAX, fitToBudget, measureBlocks, TEXT_ONLY_MAX, type Cut } from './budget.js';
import { DETAIL_CUTS, FULL_DETAILS, prepareDetails, renderDetails, type DetailLimits } from './card-details.js';
import { code, literal, literalLine, plain, truncate, truncateMrkdwn } from './mrkdwn.js';

/** Action ids shared by the card and the click handlers. */
export const ACTION_APPROVE = 'approval_approve';
export const ACTION_DENY = 'approval_deny';
/** The overflow menu: "Approve with comment…", "Deny with reason…". */
export const ACTION_MORE = 'approval_more';

/** `metadata.event_type` of every card, so a retry can find a card a crashed attempt posted. */
export const CARD_EVENT_TYPE = 'approval_card';
/** `metadata.event_type` of every escalation, so a retry can find one Slack posted but answered with an error. */
export const ESCALATION_EVENT_TYPE = 'approval_escalation';

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
  /** Plain-text fallback for notifications and screen readers (at most {@link FALLBACK_TEXT_MAX} characters). */
  text: string;
  /** Within Slack's limits for each block, and within the message budget in all (MESSAGE_BUDGET, budget.ts). */
  blocks: KnownBlock[];
  metadata: { event_type: string; event_payload: { approval_id: string; card_id: string } };
}

/**
 * The card's header: the bot's own line, saying where the approval stands (requester text never
 * goes there, so none can pass for it).
 */
const HEADLINE = {
  pending: 'Approval needed',
  approved: ':white_check_mark: Approved',
  denied: ':no_entry: Denied',
  expired: ':hourglass: Expired',
  stale: ':warning: Not decided: the policy changed',
  cancelled: ':no_entry_sign: Cancelled',
  superseded: ':arrows_counterclockwise: Superseded',
} as const;

/** What the route adds to a pending card: who is asked, how many approvals it needs, and those counted. */
export interface CardContext {
  requiredApprovals: number;
  /** Trusted user and user group IDs from the routes file, @-mentioned on the card. */
  mention?: string[];
  votes?: Vote[];
  /** When the approval expires (ms since the epoch); undefined: it waits until someone decides. */
  expiresAt?: number;
  /** When the request came (ms since the epoch): the expiry is also said as a span from it. */
  requestedAt?: number;
  /** Approve asks for confirmation in Slack's dialog first (a route's `confirm: dialog`). */
  confirm?: boolean;
  /** Trusted mrkdwn from the bot (built from validated IDs only), above the details: e.g. why the card is not where the request asked. */
  note?: string;
  /** The policy snapshot in force when the card was rendered, when the request is bound to another: approving can only end as stale. */
  staleUnder?: string;
}

/** What the route adds to the card of a pending approval. */
export function cardContext(route: Route, approval: Approval, votes?: Vote[]): CardContext {
  const expiry = expiresAt(route, approval.request, approval.createdAt);
  return {
    requiredApprovals: requiredApprovals(route, approval.request),
    ...(route.confirm === 'dialog' ? { confirm: true } : {}),
    ...(route.mention ? { mention: route.mention } : {}),
    ...(votes ? { votes } : {}),
    ...(expiry !== undefined ? { expiresAt: expiry, requestedAt: approval.createdAt } : {}),
  };
}

/** The card for a pending approval: what is asked, why, its impact and limits, and the two buttons. */
export function renderRequestCard(approval: Approval, context: CardContext = { requiredApprovals: 1 }): RenderedCard {
  const note: KnownBlock[] = [
    ...(context.staleUnder !== undefined ? [section(renderStaleWarning(approval.request.policy_snapshot, context.staleUnder))] : []),
    ...(context.note ? [{ type: 'context' as const, elements: [mrkdwn(truncateMrkdwn(`:warning: ${context.note}`, SECTION_TEXT_MAX))] }] : []),
  ];
  const asks = renderAsks(context);
  const buttons = renderButtonsFor(approval, context.confirm ?? false);
  const mentions = mentionList(context.mention ?? [], 200);
  return {
    text: renderFallbackText(mentions, 'Approval needed', approval, true),
    blocks: fitCard(approval, (details) => [header(HEADLINE.pending), ...note, ...details, ...(asks ? [section(asks)] : []), buttons]),
    metadata: { event_type: CARD_EVENT_TYPE, event_payload: { approval_id: approval.id, card_id: approval.cardId } },
  };
}

/** The warning on a card whose request is bound to a policy snapshot no longer in force (hex digits only: hashes are validated). */
function renderStaleWarning(requested: string, inForce: string): string {
  return `:warning: *Approving will end as stale:* this request was made under policy snapshot ${code(shortHash(requested))}, and ${code(shortHash(inForce))} is in force now. Any click closes it as stale; the workflow must ask again under the current policy.`;
}

function renderAsks(context: CardContext): string | undefined {
  const parts: string[] = [];
  if (context.mention?.length) parts.push(`*For:* ${mentionList(context.mention, 1000)}`);
  if (context.requiredApprovals > 1) {
    const votes = context.votes ?? [];
    const who = votes.length ? `: ${mentionList(votes.map((vote) => vote.id), 1000, ', ')}` : '';
    parts.push(`*Approvals:* ${votes.length} of ${context.requiredApprovals}${who}`);
  }
  if (context.expiresAt !== undefined) {
    // Slack renders the date in each reader's time zone; a countdown would be stale by the next
    // reading (the card is not re-rendered as time passes), so the span is counted from the request.
    const span = context.requestedAt === undefined ? '' : ` (${renderSpan(context.expiresAt - context.requestedAt)} after the request)`;
    parts.push(`*Expires* ${slackDate(new Date(context.expiresAt).toISOString(), '{date_short_pretty} at {time}')}${span}`);
  }
  return parts.length ? parts.join('   ') : undefined;
}

/** A span of time (ms) as a reader says it: `20 s`, `45 min`, `23 h`, `3 d`, rounded down. */
export function renderSpan(ms: number): string {
  if (ms < 60_000) return `${Math.max(0, Math.floor(ms / 1000))} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)} h`;
  return `${Math.floor(minutes / 1440)} d`;
}

/** Trusted IDs as mentions that notify (users as <@U…>, user groups as <!subteam^S…>), as many as fit in `max` characters. */
function mentionList(ids: readonly string[], max: number, separator = ' '): string {
  if (ids.length === 0) return '';
  return joinWithin(ids.map(mentionOf), separator, max, (left) => `and ${left} more`);
}

function mentionOf(id: string): string {
  return /^S[A-Z0-9]{2,}$/.test(id) ? `<!subteam^${id}>` : mention(id);
}

/** The details with a comment (a decision's, or a cancellation's reason) under the outcome. */
type EndingLimits = DetailLimits & { comment: number };
const ENDING_CUTS: readonly Cut<EndingLimits>[] = [...DETAIL_CUTS.slice(0, 2), { limit: 'comment', floor: 600 }, ...DETAIL_CUTS.slice(2), { limit: 'comment', floor: 200 }];

/** The card once decided: the outcome in the header, the same details, the buttons replaced by the outcome, who and when. */
export function renderDecidedCard(approval: Approval, decision: Decision): Pick<RenderedCard, 'text' | 'blocks'> {
  const outcome = section(renderOutcome(decision));
  const comment = decision.comment === undefined ? undefined : literal(decision.comment);
  const blocks = fitEnding(approval, (details, limits) => [
    header(HEADLINE[decision.decision]),
    ...details,
    outcome,
    ...(comment ? [section(`*Comment:* ${truncateMrkdwn(comment, limits.comment)}`)] : []),
  ]);
  const headline = { stale: 'Not decided (policy changed)', expired: 'Expired', approved: 'Approved', denied: 'Denied' }[decision.decision];
  return { text: renderFallbackText('', headline, approval), blocks };
}

/** The card of an approval the engine cancelled: the details stay, the buttons go. */
export function renderCancelledCard(approval: Approval, cancellation: Cancellation): Pick<RenderedCard, 'text' | 'blocks'> {
  const when = slackDate(cancellation.at, '{date_short_pretty} at {time}');
  const reason = literal(cancellation.reason);
  return {
    text: truncateMrkdwn(`${renderFallbackText('', 'Cancelled', approval)}: ${literalLine(cancellation.reason, FALLBACK_TEXT_MAX)}`, FALLBACK_TEXT_MAX),
    blocks: fitEnding(approval, (details, limits) => [
      header(HEADLINE.cancelled),
      ...details,
      section(`:no_entry_sign: *Cancelled* by the workflow ${when}: ${truncateMrkdwn(reason, limits.comment)}`),
    ]),
  };
}

/** The card of a request replaced by a newer one for the same run and step. */
export function renderSupersededCard(approval: Approval, newer: CardLocation): Pick<RenderedCard, 'text' | 'blocks'> {
  const where = newer.channel ? ` in <#${newer.channel}>` : '';
  return {
    text: renderFallbackText('', 'Superseded', approval),
    blocks: fitCard(approval, (details) => [
      header(HEADLINE.superseded),
      ...details,
      section(`:arrows_counterclockwise: *Superseded* by a newer request for this step (another job hash or policy snapshot). Decide on the new card${where}.`),
    ]),
  };
}

/** A card around the approval's details, cut to fit the budget (see {@link DETAIL_CUTS}). */
function fitCard(approval: Approval, render: (details: KnownBlock[]) => KnownBlock[]): KnownBlock[] {
  const prepared = prepareDetails(approval);
  return fitToBudget<DetailLimits, KnownBlock[]>((limits) => render(renderDetails(prepared, limits)), measureBlocks, FULL_DETAILS, DETAIL_CUTS);
}

/** The same, for a card with a comment under its outcome, which is cut too. */
function fitEnding(approval: Approval, render: (details: KnownBlock[], limits: EndingLimits) => KnownBlock[]): KnownBlock[] {
  const prepared = prepareDetails(approval);
  return fitToBudget<EndingLimits, KnownBlock[]>((limits) => render(renderDetails(prepared, limits), limits), measureBlocks, { ...FULL_DETAILS, comment: SECTION_TEXT_MAX }, ENDING_CUTS);
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
  if (approvals.length > 1) return `:white_check_mark: *Approved* (${approvals.length} approvals) by ${mentionList(approvals.map((vote) => vote.id), 2000, ', ')}, last ${when}`;
  return `:white_check_mark: *Approved* by ${mention(decision.decided_by.id)} ${when}`;
}

/** A thread reply for one approval counted towards N: "@alice approved: 1 of 2", with their comment. */
export function renderApprovalCounted(vote: Vote, count: number, required: number): string {
  const comment = vote.comment ? `: “${literal(vote.comment, 1000)}”` : '';
  return `:ballot_box_with_check: ${mention(vote.id)} approved: ${count} of ${required}${comment}`;
}

/**
 * A reminder in the card's thread: who has not acted yet (trusted IDs from the routes file, as many
 * as fit), how far the approvals are, and when the approval expires (ms since the epoch).
 */
export function renderReminder(reminder: { waitingFor: readonly string[]; votes: number; required: number; expiresAt?: number }): string {
  const who = mentionList(reminder.waitingFor, TEXT_ONLY_MAX - 500);
  const progress = reminder.required > 1 ? ` (${reminder.votes} of ${reminder.required} approvals so far)` : '';
  const until = reminder.expiresAt === undefined ? '' : ` It expires ${slackDate(new Date(reminder.expiresAt).toISOString(), '{date_short_pretty} at {time}')}.`;
  return `:alarm_clock: ${who ? `${who}: this` : 'This'} approval is still waiting for a decision${progress}.${until}`;
}

/**
 * The escalation in the card's thread: the route's `escalate_to` (trusted IDs from the routes file,
 * as many as fit) told that nobody has decided for `waitedMs` (ms) since the request.
 */
export function renderEscalation(escalation: { to: readonly string[]; waitedMs: number; votes: number; required: number }): string {
  const who = mentionList(escalation.to, TEXT_ONLY_MAX - 500);
  const progress = escalation.required > 1 ? ` (${escalation.votes} of ${escalation.required} approvals so far)` : '';
  return `:rotating_light: ${who}: nobody has decided this approval in ${renderSpan(escalation.waitedMs)}${progress}. Please find someone who can decide it, or decide it if you may.`;
}

/** A user mention, only for what is shaped like a Slack user ID (the signed payload's); anything else shows literally. */
export function mention(userId: string): string {
  return /^[UW][A-Z0-9]{2,}$/.test(userId) ? `<@${userId}>` : literalLine(userId, 100);
}

/** Slack's date formatting, so each reader sees their own time zone; the fallback is UTC. */
export function slackDate(iso: string, format: string): string {
  const ms = Date.parse(iso);
  const fallback = new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  return `<!date^${Math.floor(ms / 1000)}^${format}|${fallback}>`;
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
    text: plainText(text, true),
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
    text: plainText(truncate(plain(`Approve a ${impact}action on ${r.run_id}/${r.step_id}? ${r.reason}`), CONFIRM_TEXT_MAX), false),
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

/** "Approval needed: incident-triage/remediate [prod, write]: prod write detected", for notifications. */
function renderFallbackText(mentions: string, headline: string, approval: Approval, withReason = false): string {
  const r = approval.request;
  const tags = withReason && r.risk_tags.length > 0 ? ` [${r.risk_tags.join(', ')}]` : '';
  const what = literalLine(`${r.workflow ?? r.run_id}/${r.step_id}${tags}${withReason ? `: ${r.reason}` : ''}`, FALLBACK_TEXT_MAX);
  return truncateMrkdwn(`${mentions ? `${mentions} ` : ''}${headline}: ${what}`, FALLBACK_TEXT_MAX);
}
