import type { KnownBlock } from '@slack/types';
import type { ApprovalRecord } from '../domain/approval.js';
import { mrkdwn, section } from './blocks.js';
import { FALLBACK_TEXT_MAX, measureBlocks, MESSAGE_BUDGET } from './budget.js';
import { renderButtonsFor } from './cards.js';
import { code, literalLine, quote, truncateMrkdwn } from './mrkdwn.js';

/** What `/approvals` shows: pending approvals, most urgent first, each with the card's buttons. */

/** How many approvals one reply shows at most: two blocks each, well inside Slack's 50 (fewer when the budget says so). */
export const LIST_LIMIT = 15;

// What one item shows of a request, in characters after escaping: a list is for finding, the card for deciding.
const ITEM = { name: 80, tags: 5, tag: 40, reason: 200 } as const;
// What the reply echoes of the command's argument.
const ARGUMENT_MAX = 60;

export interface PendingItem {
  record: ApprovalRecord;
  expiresAt: number | undefined;
  requiredApprovals: number;
  /** The route asks for Slack's confirmation dialog before Approve. */
  confirm: boolean;
  permalink: string | undefined;
}

export interface ListQuery {
  mine: boolean;
  riskTag?: string;
  channel?: string;
}

/**
 * Channels with pending cards whose visibility to the caller could not be checked just now: their
 * approvals are left out of the list, and the reply says so.
 */
export interface PartialList {
  uncheckedChannels: number;
  /** Slack asked to wait this long (Retry-After), in seconds. */
  retryAfterSec?: number;
}

export type ParsedArgs = { kind: 'help' } | { kind: 'stats' } | { kind: 'list'; query: ListQuery };

/** `/approvals [mine] [<risk tag>] [#channel] [help] | stats`; with "escape channels" on, a channel comes as `<#C123|name>`. */
export function parseArgs(text: string): ParsedArgs {
  const query: ListQuery = { mine: false };
  for (const word of text.trim().split(/\s+/).filter(Boolean)) {
    const lower = word.toLowerCase();
    if (lower === 'help') return { kind: 'help' };
    if (lower === 'stats') return { kind: 'stats' };
    if (lower === 'mine') query.mine = true;
    else if (/^<#([CG][A-Z0-9]{2,20})(\|[^>]*)?>$/.test(word)) query.channel = /^<#([CG][A-Z0-9]+)/.exec(word)![1];
    else query.riskTag = lower.replace(/^#/, '');
  }
  return { kind: 'list', query };
}

export const HELP_TEXT = [
  '*/approvals* lists the approvals waiting for a decision that you can see, most urgent first.',
  '• `/approvals mine`: only those you may approve',
  '• `/approvals prod`: only those tagged `prod` (any risk tag)',
  '• `/approvals #incident-42`: only those in that channel',
  'Words combine: `/approvals mine secrets`.',
  '• `/approvals stats`: how many were decided in the last 7 days on the routes you may decide on, and how long it took (median, 90th percentile)',
].join('\n');

/** Soonest expiry first; those that never expire last; then the oldest first. */
export function byUrgency(a: PendingItem, b: PendingItem): number {
  return (a.expiresAt ?? Infinity) - (b.expiresAt ?? Infinity) || a.record.createdAt - b.record.createdAt;
}

/**
 * The reply to `/approvals`: the most urgent pending approvals, each with its buttons, as many as
 * fit Slack's budget (at most {@link LIST_LIMIT}), and how many more there are; with `partial`, a
 * note that some channels could not be checked (their approvals are left out).
 */
export function renderPendingList(items: PendingItem[], query: ListQuery, now: number, partial?: PartialList): { text: string; blocks: KnownBlock[] } {
  const what = describe(query);
  const note = partial && partial.uncheckedChannels > 0 ? renderPartialNote(partial) : undefined;
  const partialText = note ? ' (partial list)' : '';
  if (items.length === 0) {
    const text = `No approvals are waiting${what}.`;
    return { text: truncateMrkdwn(`No approvals are waiting${what}${partialText}.`, FALLBACK_TEXT_MAX), blocks: [section(text), ...(note ? [note] : [])] };
  }
  const urgent = [...items].sort(byUrgency).slice(0, LIST_LIMIT);
  const rendered = urgent.map((item) => [renderItem(item, now), renderButtonsFor(item.record, item.confirm)]);
  const list = (shown: number): KnownBlock[] => {
    const heading = `*${items.length} approval${items.length === 1 ? '' : 's'} waiting${what}*${items.length > shown ? `, the ${shown} most urgent:` : ':'}`;
    const more: KnownBlock[] =
      items.length > shown
        ? [{ type: 'context', elements: [mrkdwn(`…and ${items.length - shown} more. Narrow it down: \`/approvals mine\`, \`/approvals <risk tag>\`, \`/approvals #channel\`.`)] }]
        : [];
    return [section(heading), ...rendered.slice(0, shown).flat(), ...more, ...(note ? [note] : [])];
  };
  let shown = urgent.length;
  while (shown > 1 && measureBlocks(list(shown)) > MESSAGE_BUDGET) shown -= 1;
  return { text: truncateMrkdwn(`${items.length} approval${items.length === 1 ? '' : 's'} waiting${what}${partialText}`, FALLBACK_TEXT_MAX), blocks: list(shown) };
}

function renderPartialNote({ uncheckedChannels: n, retryAfterSec }: PartialList): KnownBlock {
  const when = retryAfterSec ? `in ${retryAfterSec} s` : 'in a moment';
  const text = `:warning: This list is partial: ${n} channel${n === 1 ? '' : 's'} could not be checked just now, so ${n === 1 ? 'its' : 'their'} approvals are not shown. Try again ${when}.`;
  return { type: 'context', elements: [mrkdwn(text)] };
}

/** One approval: its step, tags, reason (quoted, on one line) and how it stands; requester text shows literally. */
function renderItem({ record, expiresAt, requiredApprovals, permalink }: PendingItem, now: number): KnownBlock {
  const r = record.request;
  const title = `${r.workflow ? `${code(r.workflow, ITEM.name)} › ` : ''}${code(r.step_id, ITEM.name)}`;
  const tags = r.risk_tags.slice(0, ITEM.tags).map((tag) => code(tag, ITEM.tag)).join(' ');
  const more = r.risk_tags.length > ITEM.tags ? ` _and ${r.risk_tags.length - ITEM.tags} more_` : '';
  const facts = [
    `${formatDuration(now - record.createdAt)} old`,
    expiresAt === undefined ? 'never expires' : `expires in ${formatDuration(expiresAt - now)}`,
    ...(requiredApprovals > 1 ? [`${record.votes.length} of ${requiredApprovals} approvals`] : []),
    ...(permalink ? [`<${permalink}|open the card>`] : []),
  ];
  return section(`${title} ${tags}${more}\n${quote(literalLine(r.reason, ITEM.reason))}\n_${facts.join(' · ')}_`);
}

/** What the list was asked for, echoing the command's argument in code, cut. */
function describe(query: ListQuery): string {
  const parts = [query.mine ? ' for you to decide' : '', query.riskTag ? ` tagged ${code(query.riskTag, ARGUMENT_MAX)}` : '', query.channel ? ` in <#${query.channel}>` : ''];
  return parts.join('');
}

/** A compact duration: `45s`, `12m`, `3h 5m`, `2d 4h`. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours}h ${minutes % 60}m` : `${hours}h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days}d ${hours % 24}h` : `${days}d`;
}

