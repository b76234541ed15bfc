import type { KnownBlock, ModalView } from '@slack/types';
import type { Approval } from '../domain/approval.js';
import { mrkdwn, section, SECTION_TEXT_MAX } from './cards.js';
import { shortHash } from '../domain/contract.js';
import { code, escapeMrkdwn, mrkdwnCutIndex, plain, truncateMrkdwn } from './mrkdwn.js';

/**
 * The modal behind "Approve with comment…" / "Deny with reason…", and the typed confirmation of a
 * `confirm: typed` route: what is decided, the whole job for a typed confirmation, and the inputs.
 */

export const DECIDE_MODAL = 'approval_decide_modal';
export const COMMENT_BLOCK = 'approval_comment';
export const COMMENT_INPUT = 'comment';
export const TYPED_BLOCK = 'approval_typed';
export const TYPED_INPUT = 'typed';

// The job is shown in at most this many sections: a modal holds 100 blocks, a reviewer reads far fewer.
const JOB_SECTIONS_MAX = 3;

export interface DecideModalOptions {
  /** Ask for the step id or the job hash's first 8 characters, showing the job. */
  typed?: boolean;
  /** The comment may be left empty (the typed confirmation of a plain Approve click). */
  commentOptional?: boolean;
}

/** What a modal's private_metadata carries: the action, the approval and card, whether a comment is needed. */
export interface DecideModalMetadata {
  action: 'approve' | 'deny';
  a: string;
  c: string;
  /** 1 when the comment is optional. */
  o?: 1;
}

export function renderDecideModal(approval: Approval, action: 'approve' | 'deny', options: DecideModalOptions = {}): ModalView {
  const r = approval.request;
  const approve = action === 'approve';
  const metadata: DecideModalMetadata = { action, a: approval.id, c: approval.cardId, ...(options.commentOptional ? { o: 1 as const } : {}) };
  const blocks: KnownBlock[] = [
    section(`*${escapeMrkdwn(`${r.workflow ?? r.run_id} › ${r.step_id}`)}*\n${escapeMrkdwn(r.reason)}`),
    {
      type: 'context',
      elements: [mrkdwn(truncateMrkdwn(`Risk ${r.risk_tags.map(code).join(' ') || '_none tagged_'} · Job hash ${code(shortHash(r.job_hash))} · Policy snapshot ${code(shortHash(r.policy_snapshot))}`, SECTION_TEXT_MAX))],
    },
    ...(options.typed ? renderTypedConfirmation(approval) : []),
    {
      type: 'input',
      block_id: COMMENT_BLOCK,
      ...(options.commentOptional ? { optional: true } : {}),
      label: { type: 'plain_text', text: approve ? 'Comment (shown on the card and sent to the workflow)' : 'Reason (shown on the card and sent to the workflow)' },
      element: { type: 'plain_text_input', action_id: COMMENT_INPUT, multiline: true, ...(options.commentOptional ? {} : { min_length: 1 }), max_length: 1000 },
    },
  ];
  return {
    type: 'modal',
    callback_id: DECIDE_MODAL,
    private_metadata: JSON.stringify(metadata),
    title: { type: 'plain_text', text: options.typed ? 'Confirm approval' : approve ? 'Approve with comment' : 'Deny with reason' },
    submit: { type: 'plain_text', text: approve ? 'Approve' : 'Deny' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks,
  };
}

/** The job, as the approval kept it, and the input for the step id or the job hash's first 8 characters. */
function renderTypedConfirmation(approval: Approval): KnownBlock[] {
  const r = approval.request;
  // Backticks would end the code block early: they show as a look-alike.
  const parts = approval.jobPreview ? chunk(escapeMrkdwn(approval.jobPreview.replace(/`/g, 'ˋ')), SECTION_TEXT_MAX - 10) : [];
  const job = parts.length
    ? [
        ...parts.slice(0, JOB_SECTIONS_MAX).map((part) => section(`\`\`\`${part}\`\`\``)),
        ...(parts.length > JOB_SECTIONS_MAX ? [section('_… the rest is not shown here; the job hash covers the whole job._')] : []),
      ]
    : [section('_This approval keeps no copy of the job to show; its hash (below) binds it._')];
  return [
    section('*The job you approve* (as the engine sent it; the job hash binds exactly this):'),
    ...job,
    {
      type: 'input',
      block_id: TYPED_BLOCK,
      label: { type: 'plain_text', text: 'Type the step id, or the first 8 characters of the job hash' },
      hint: { type: 'plain_text', text: plain(`Step id: ${r.step_id} · Job hash: ${shortHash(r.job_hash)}…`) },
      element: { type: 'plain_text_input', action_id: TYPED_INPUT, max_length: 300 },
    },
  ];
}

/** Cuts escaped mrkdwn into parts of at most `max` characters, never inside an entity or a character. */
function chunk(text: string, max: number): string[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const cut = mrkdwnCutIndex(rest, max);
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  return rest ? [...parts, rest] : parts;
}
