import { blocksToHtml } from './block-kit-html.js';
import type { QueuedJob } from './engine.js';
import { escapeHtml, mrkdwnToHtml, type DisplayContext } from './mrkdwn-html.js';
import type { SandboxUser } from './sandbox-workspace.js';
import type { EmulatedChannel, EmulatedMessage } from './workspace.js';

/**
 * What the sandbox page shows, rendered from the emulator's and the engine's state as HTML
 * fragments for one viewer: the page swaps them in whenever something changes.
 */

export interface PageState {
  viewer: string;
  users: SandboxUser[];
  channels: EmulatedChannel[];
  messages: EmulatedMessage[];
  /** Ephemeral messages the bot sent the viewer, oldest first. */
  ephemerals: { channel: string; text: string; blocks: unknown[] }[];
  /** The modal open for the viewer, if any. */
  modal?: { id: string; view: Record<string, unknown> };
  decisions: QueuedJob[];
  requests: QueuedJob[];
  policySnapshot: string | null;
  botName: string;
}

export interface PageFragments {
  /** Per channel id: its messages, threads and the viewer's ephemeral messages. */
  channels: Record<string, string>;
  channelList: string;
  modal: string;
  decisions: string;
  requests: string;
  policySnapshot: string;
}

export function renderPageFragments(state: PageState, context: DisplayContext): PageFragments {
  // The viewer sees the channels, and their own DM with the bot only.
  const visible = state.channels.filter((c) => c.dmWith === undefined || c.dmWith === state.viewer);
  const channels = Object.fromEntries(visible.map((channel) => [channel.id, renderChannel(state, channel, context)]));
  return {
    channels,
    channelList: visible
      .map((c) => {
        const count = state.messages.filter((m) => m.channel === c.id && m.thread_ts === undefined).length;
        const label = c.dmWith ? `✉ ${state.botName} (DM)` : `# ${c.name}`;
        return `<li><a href="#${escapeHtml(c.id)}" data-channel="${escapeHtml(c.id)}">${escapeHtml(label)}<span class="count">${count || ''}</span></a></li>`;
      })
      .join(''),
    modal: state.modal ? renderModal(state.modal, context) : '',
    decisions: state.decisions.length ? state.decisions.map(renderDecision).join('') : '<p class="empty">No decision yet. Approve or deny a card.</p>',
    requests: state.requests.length ? state.requests.map((job) => renderRequestJob(job, state.channels)).join('') : '<p class="empty">No request yet.</p>',
    policySnapshot: state.policySnapshot ?? '(none set)',
  };
}

function renderChannel(state: PageState, channel: EmulatedChannel, context: DisplayContext): string {
  const inChannel = state.messages.filter((m) => m.channel === channel.id);
  const topLevel = inChannel.filter((m) => m.thread_ts === undefined);
  const messages = topLevel.map((message) => {
    const replies = inChannel.filter((m) => m.thread_ts === message.ts);
    const thread = replies.length ? `<div class="thread"><div class="thread-count">${replies.length} ${replies.length === 1 ? 'reply' : 'replies'}</div>${replies.map((r) => renderMessage(r, state.botName, context, 'reply')).join('')}</div>` : '';
    return renderMessage(message, state.botName, context, 'message', thread);
  });
  const ephemerals = state.ephemerals
    .map((e, index) => ({ ...e, index }))
    .filter((e) => e.channel === channel.id)
    .map((e) => renderEphemeral(e, state.botName, context));
  const body = [...messages, ...ephemerals].join('');
  return body || `<p class="empty">No messages in ${channel.dmWith ? 'this DM' : `#${escapeHtml(channel.name)}`} yet. Enqueue a request on the right.</p>`;
}

function renderMessage(message: EmulatedMessage, botName: string, context: DisplayContext, kind: 'message' | 'reply', thread = ''): string {
  const content = message.blocks.length ? blocksToHtml(message.blocks, context) : `<div class="bk-text">${mrkdwnToHtml(message.text, context)}</div>`;
  const edited = message.edited ? ' <span class="edited">(edited)</span>' : '';
  return (
    `<article class="${kind}" data-channel="${escapeHtml(message.channel)}" data-ts="${escapeHtml(message.ts)}">` +
    `<div class="meta"><span class="author">${escapeHtml(botName)}</span><span class="app-badge">APP</span>${timeOf(message.ts)}${edited}</div>` +
    `<div class="blocks">${content}</div>${thread}</article>`
  );
}

function renderEphemeral(message: { text: string; blocks: unknown[]; index: number }, botName: string, context: DisplayContext): string {
  const content = message.blocks.length ? blocksToHtml(message.blocks, context) : `<div class="bk-text">${mrkdwnToHtml(message.text, context)}</div>`;
  return (
    `<article class="message ephemeral" data-ephemeral="${message.index}">` +
    `<div class="meta"><span class="author">${escapeHtml(botName)}</span><span class="app-badge">APP</span><span class="only-you">Only visible to you</span></div>` +
    `<div class="blocks">${content}</div></article>`
  );
}

function renderModal(modal: { id: string; view: Record<string, unknown> }, context: DisplayContext): string {
  const text = (value: unknown, fallback: string) => escapeHtml(typeof value === 'object' && value !== null && 'text' in value ? String(value.text) : fallback);
  const blocks = Array.isArray(modal.view.blocks) ? modal.view.blocks : [];
  return (
    `<form class="modal" data-view-id="${escapeHtml(modal.id)}">` +
    `<header>${text(modal.view.title, 'Modal')}</header>` +
    `<div class="modal-body">${blocksToHtml(blocks, context)}</div>` +
    `<footer><p class="error" data-modal-error role="alert"></p><button type="button" class="bk-button" data-modal-close>${text(modal.view.close, 'Cancel')}</button>` +
    (modal.view.submit ? `<button type="submit" class="bk-button bk-button-primary">${text(modal.view.submit, 'Submit')}</button>` : '') +
    `</footer></form>`
  );
}

function renderDecision(job: QueuedJob): string {
  const data = job.data as { decision?: string; run_id?: string; step_id?: string };
  return (
    `<details class="job decision-${escapeHtml(String(data.decision ?? 'unknown'))}" data-job-id="${escapeHtml(job.id)}">` +
    `<summary><span class="badge">${escapeHtml(String(data.decision ?? job.name))}</span> ${escapeHtml(`${data.run_id ?? '?'} / ${data.step_id ?? '?'}`)}</summary>` +
    `<pre>${escapeHtml(JSON.stringify(job.data, null, 2))}</pre></details>`
  );
}

function renderRequestJob(job: QueuedJob, channels: EmulatedChannel[]): string {
  const data = job.data as { run_id?: string; step_id?: string; policy_snapshot?: string };
  const what = job.name === 'request' ? `${data.run_id ?? '?'} / ${data.step_id ?? '?'}` : job.name === 'policy' ? `policy → ${String(data.policy_snapshot ?? '').slice(0, 19)}…` : job.name;
  const result = job.result as { channel?: string; outcome?: string } | undefined;
  const where = result?.channel ? ` → #${escapeHtml(channels.find((c) => c.id === result.channel)?.name ?? result.channel)}` : '';
  const outcome = job.failedReason ? `<div class="failed-reason">${escapeHtml(job.failedReason)}</div>` : '';
  return `<div class="job job-${escapeHtml(job.state)}"><span class="badge">${escapeHtml(job.state)}</span> ${escapeHtml(what)}${where}${outcome}</div>`;
}

/** A message ts as the time of day it was posted. */
function timeOf(ts: string): string {
  const date = new Date(Number(ts) * 1000);
  return `<time datetime="${date.toISOString()}">${date.toISOString().slice(11, 19)}</time>`;
}
