import type { KnownBlock } from '@slack/types';
import type { ApprovalRecord } from '../domain/approval.js';
import { renderButtonsFor } from './cards.js';
import { code, escapeMrkdwn, truncateMrkdwn } from './mrkdwn.js';

/** What `/approvals` shows: pending approvals, most urgent first, each with the card's buttons. */

/** How many approvals one reply shows: two blocks each, well inside Slack's 50. */
export const LIST_LIMIT = 15;

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

export type ParsedArgs = { kind: 'help' } | { kind: 'list'; query: ListQuery };

/** `/approvals [mine] [<risk tag>] [#channel] [help]`; with "escape channels" on, a channel comes as `<#C123|name>`. */
export function parseArgs(text: string): ParsedArgs {
  const query: ListQuery = { mine: false };
  for (const word of text.trim().split(/\s+/).filter(Boolean)) {
    const lower = word.toLowerCase();
    if (lower === 'help') return { kind: 'help' };
    if (lower === 'mine') query.mine = true;
    else if (/^<#([CG][A-Z0-9]+)(\|[^>]*)?>$/.test(word)) query.channel = /^<#([CG][A-Z0-9]+)/.exec(word)![1];
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
].join('\n');

/** Soonest expiry first; those that never expire last; then the oldest first. */
export function byUrgency(a: PendingItem, b: PendingItem): number {
  return (a.expiresAt ?? Infinity) - (b.expiresAt ?? Infinity) || a.record.createdAt - b.record.createdAt;
}

export function renderPendingList(items: PendingItem[], query: ListQuery, now: number, partial?: PartialList): { text: string; blocks: KnownBlock[] } {
  const what = describe(query);
  const note = partial && partial.uncheckedChannels > 0 ? renderPartialNote(partial) : undefined;
  const partialText = note ? ' (partial list)' : '';
  if (items.length === 0) {
    const text = `No approvals are waiting${what}.`;
    return { text: `No approvals are waiting${what}${partialText}.`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }, ...(note ? [note] : [])] };
  }
  const shown = [...items].sort(byUrgency).slice(0, LIST_LIMIT);
  const heading = `*${items.length} approval${items.length === 1 ? '' : 's'} waiting${what}*${items.length > shown.length ? `, the ${shown.length} most urgent:` : ':'}`;
  const blocks: KnownBlock[] = [{ type: 'section', text: { type: 'mrkdwn', text: heading } }];
  for (const item of shown) blocks.push(renderItem(item, now), renderButtonsFor(item.record, item.confirm));
  if (items.length > shown.length) {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `…and ${items.length - shown.length} more. Narrow it down: \`/approvals mine\`, \`/approvals <risk tag>\`, \`/approvals #channel\`.` }],
    });
  }
  if (note) blocks.push(note);
  return { text: `${items.length} approval${items.length === 1 ? '' : 's'} waiting${what}${partialText}`, blocks };
}

function renderPartialNote({ uncheckedChannels: n, retryAfterSec }: PartialList): KnownBlock {
  const when = retryAfterSec ? `in ${retryAfterSec} s` : 'in a moment';
  const text = `:warning: This list is partial: ${n} channel${n === 1 ? '' : 's'} could not be checked just now, so ${n === 1 ? 'its' : 'their'} approvals are not shown. Try again ${when}.`;
  return { type: 'context', elements: [{ type: 'mrkdwn', text }] };
}

function renderItem({ record, expiresAt, requiredApprovals, permalink }: PendingItem, now: number): KnownBlock {
  const r = record.request;
  const title = escapeMrkdwn(`${r.workflow ?? r.run_id} › ${r.step_id}`);
  const tags = r.risk_tags.map(code).join(' ');
  const reason = truncateMrkdwn(escapeMrkdwn(r.reason.replace(/\s+/g, ' ')), 150);
  const facts = [
    `${formatDuration(now - record.createdAt)} old`,
    expiresAt === undefined ? 'never expires' : `expires in ${formatDuration(expiresAt - now)}`,
    ...(requiredApprovals > 1 ? [`${record.votes.length} of ${requiredApprovals} approvals`] : []),
    ...(permalink ? [`<${permalink}|open the card>`] : []),
  ];
  const text = truncateMrkdwn(`*${title}* ${tags}\n${reason}\n_${facts.join(' · ')}_`, 3000);
  return { type: 'section', text: { type: 'mrkdwn', text, verbatim: true } };
}

function describe(query: ListQuery): string {
  const parts = [query.mine ? ' for you to decide' : '', query.riskTag ? ` tagged ${code(query.riskTag)}` : '', query.channel ? ` in <#${query.channel}>` : ''];
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

