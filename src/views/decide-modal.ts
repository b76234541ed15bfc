import type { KnownBlock, ModalView } from '@slack/types';
import type { Approval } from '../domain/approval.js';
import { LIMITS, shortHash } from '../domain/contract.js';
import { context, plainText, section } from './blocks.js';
import { fitToBudget, measureBlocks, type Cut } from './budget.js';
import { JOB_PART_MAX, JOB_SECTIONS_MAX, renderJobSections } from './job-preview.js';
import { code, literal, plain, quote, truncateMrkdwn } from './mrkdwn.js';

/**
 * The modal behind "Approve with comment…" / "Deny with reason…", and the typed confirmation of a
 * `confirm: typed` route: what is decided, the whole job for a typed confirmation, and the inputs.
 */

export const DECIDE_MODAL = 'approval_decide_modal';
export const COMMENT_BLOCK = 'approval_comment';
export const COMMENT_INPUT = 'comment';
export const TYPED_BLOCK = 'approval_typed';
export const TYPED_INPUT = 'typed';

const NAME_MAX = 200;
const TAG_MAX = 40;

/** How much of the request the modal shows, in characters after escaping unless said otherwise. */
interface ModalLimits {
  /** The reason, quoted. */
  reason: number;
  /** How many risk tags are shown. */
  tags: number;
  /** The job, in all its sections. */
  job: number;
}

// The reason shares its section with the step (up to two names of NAME_MAX): 2,000 leaves them room.
const FULL: ModalLimits = { reason: 2000, tags: LIMITS.riskTags, job: JOB_SECTIONS_MAX * JOB_PART_MAX };

// The job is what a typed confirmation is about: the reason (also on the card) and the tags go first.
const CUTS: readonly Cut<ModalLimits>[] = [
  { limit: 'reason', floor: 500 },
  { limit: 'tags', floor: 5 },
  { limit: 'job', floor: JOB_PART_MAX },
  { limit: 'reason', floor: 200 },
];

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

/** The modal, within Slack's limits for each block and within the message budget in all. */
export function renderDecideModal(approval: Approval, action: 'approve' | 'deny', options: DecideModalOptions = {}): ModalView {
  const approve = action === 'approve';
  const metadata: DecideModalMetadata = { action, a: approval.id, c: approval.cardId, ...(options.commentOptional ? { o: 1 as const } : {}) };
  const comment: KnownBlock = {
    type: 'input',
    block_id: COMMENT_BLOCK,
    ...(options.commentOptional ? { optional: true } : {}),
    label: { type: 'plain_text', text: approve ? 'Comment (shown on the card and sent to the workflow)' : 'Reason (shown on the card and sent to the workflow)' },
    element: { type: 'plain_text_input', action_id: COMMENT_INPUT, multiline: true, ...(options.commentOptional ? {} : { min_length: 1 }), max_length: 1000 },
  };
  const blocks = fitToBudget<ModalLimits, KnownBlock[]>(
    (limits) => [...renderWhat(approval, limits), ...(options.typed ? renderTypedConfirmation(approval, limits) : []), comment],
    measureBlocks,
    FULL,
    CUTS,
  );
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

/** The step, why, the risk and the binding; requester text shows literally. */
function renderWhat(approval: Approval, limits: ModalLimits): KnownBlock[] {
  const r = approval.request;
  const step = `${r.workflow ? `${code(r.workflow, NAME_MAX)} › ` : ''}${code(r.step_id, NAME_MAX)}`;
  const tags = r.risk_tags.slice(0, limits.tags).map((tag) => code(tag, TAG_MAX));
  const risk = tags.length ? `${tags.join(' ')}${r.risk_tags.length > tags.length ? ` _and ${r.risk_tags.length - tags.length} more_` : ''}` : '_none tagged_';
  return [
    section(`*Step:* ${step}\n*Why:*\n${truncateMrkdwn(quote(literal(r.reason)), limits.reason)}`),
    context(`Risk ${risk} · Job hash ${code(shortHash(r.job_hash))} · Policy snapshot ${code(shortHash(r.policy_snapshot))}`),
  ];
}

/** The job, as the approval kept it, and the input for the step id or the job hash's first 8 characters. */
function renderTypedConfirmation(approval: Approval, limits: ModalLimits): KnownBlock[] {
  const r = approval.request;
  return [
    section('*The job you approve* (as the engine sent it; the job hash binds exactly this):'),
    ...renderJobSections(approval.jobPreview, limits.job),
    {
      type: 'input',
      block_id: TYPED_BLOCK,
      label: { type: 'plain_text', text: 'Type the step id, or the first 8 characters of the job hash' },
      hint: plainText(plain(`Step id: ${r.step_id} · Job hash: ${shortHash(r.job_hash)}…`), false),
      element: { type: 'plain_text_input', action_id: TYPED_INPUT, max_length: 300 },
    },
  ];
}
