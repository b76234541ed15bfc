import type { DropReason, DroppedVote, Refusal } from '../domain/approval.js';
import { mention, renderOutcome, slackDate } from './cards.js';
import { literal, truncate, truncateMrkdwn } from './mrkdwn.js';

/**
 * Ephemeral answers to a click that decided nothing: each says why, and what to do. Each is text
 * only, within the budget for text (TEXT_ONLY_MAX in budget.ts); what came from a request shows literally.
 */

// A cancellation's reason, in characters after escaping: the card has the rest.
const CANCEL_REASON_MAX = 1000;

export function renderRefusal(refusal: Refusal): string {
  switch (refusal.reason) {
    case 'unauthorized':
      return ':no_entry_sign: You are not one of the approvers for this request, so your click changed nothing.';
    case 'self_approval':
      return ':no_entry_sign: You started this run, so you cannot approve it: someone else has to. (You can still deny it.)';
    case 'already_counted':
      return `:information_source: Your approval is already counted (${refusal.votes.length} of ${refusal.required}); it needs someone else now.`;
    case 'not_found':
      return ':grey_question: This approval is no longer on record (it expired, or was never recorded here). Nothing was decided.';
    case 'stale_card':
      return ':arrows_counterclockwise: This card is out of date: the request was replaced. Nothing was decided; use the current card.';
    case 'no_policy':
      return ':lock: The policy snapshot in force cannot be read, so nothing was approved and the request stays pending. Ask the workflow owners to publish the policy snapshot, then try again.';
    case 'bot':
      return ':no_entry_sign: Bots and apps cannot decide approvals. Nothing was decided.';
    case 'deactivated':
      return ':no_entry_sign: This account is deactivated, so it cannot decide approvals. Nothing was decided.';
    case 'guest':
      return ':no_entry_sign: Guests cannot decide approvals on this route. Nothing was decided.';
    case 'external_team':
      return ':no_entry_sign: People from other workspaces cannot decide approvals here. Nothing was decided.';
    case 'confirmation_required':
      return ':lock: Approving this needs a typed confirmation, and its form could not open. Nothing was decided; click Approve again.';
    case 'typed_mismatch':
      return ':no_entry_sign: What you typed is not the step id or the first 8 characters of the job hash. Nothing was decided.';
    case 'cancelled':
      return `:no_entry_sign: This approval was cancelled by the workflow (${literal(refusal.cancellation.reason, CANCEL_REASON_MAX)}). Nothing was decided.`;
    case 'already_decided': {
      const d = refusal.decision;
      if (d.decision === 'stale' || d.decision === 'expired') return `:information_source: Already closed: ${renderOutcome(d)}`;
      return `:information_source: Already ${d.decision} by ${mention(d.decided_by.id)} ${slackDate(d.decided_at, '{ago}')}.`;
    }
  }
}

/** A refusal as plain text, for an error shown in a modal (where mrkdwn is not rendered). */
export function refusalInModal(refusal: Refusal): string {
  const why: Record<Refusal['reason'], string> = {
    unauthorized: 'you are not one of the approvers for this request',
    self_approval: 'you started this run, so someone else has to approve it',
    not_found: 'this approval is no longer on record',
    stale_card: 'the request was replaced by a newer one while this form was open',
    already_counted: 'your approval is already counted',
    already_decided: 'it was decided while this form was open',
    cancelled: 'the workflow cancelled it while this form was open',
    no_policy: 'the policy snapshot in force cannot be read',
    bot: 'bots and apps cannot decide approvals',
    deactivated: 'this account is deactivated',
    guest: 'guests cannot decide approvals on this route',
    external_team: 'people from other workspaces cannot decide approvals here',
    confirmation_required: 'approving this needs the step id or the first 8 characters of the job hash typed below',
    typed_mismatch: 'that is not the step id or the first 8 characters of the job hash',
  };
  const detail = refusal.reason === 'already_decided' ? ` (${refusal.decision.decision} by ${truncate(refusal.decision.decided_by.name, 100)})` : '';
  return `Nothing was decided: ${why[refusal.reason]}${detail}.`;
}

/** An approval counted towards the N a route needs, saying which approvals counted before no longer do. */
export function renderCounted(votes: number, required: number, dropped: DroppedVote[] = []): string {
  const counted = `:ballot_box_with_check: Your approval is counted: ${votes} of ${required}. The run resumes once ${required - votes} more approve.`;
  return dropped.length ? `${counted}\n${renderDroppedReply(dropped)}` : counted;
}

const DROP_REASONS: Record<DropReason, string> = {
  not_approver: 'no longer one of the approvers',
  deactivated: 'account deactivated',
  guest: 'now a guest',
  bot: 'a bot or app',
  external_team: 'now in another workspace',
};

// A context element's text holds 3,000 characters (https://docs.slack.dev/reference/block-kit/blocks/context-block).
const DROPPED_TEXT_MAX = 2000;

/**
 * Approvals counted earlier that no longer stood when the approval would have completed, and why, as
 * the card's note. Trusted mrkdwn: built from user IDs of signed payloads only.
 */
export function renderDroppedVotes(dropped: DroppedVote[]): string {
  const who = dropped.map(({ vote, reason }) => `${mention(vote.id)} (${DROP_REASONS[reason]})`).join(', ');
  return truncateMrkdwn(`No longer counted, checked with Slack when the approval would have completed: ${who}.`, DROPPED_TEXT_MAX);
}

/** The same, for the card's thread and the clicker. */
export function renderDroppedReply(dropped: DroppedVote[]): string {
  return `:warning: ${renderDroppedVotes(dropped)}`;
}

/** A click at or after the approval's expiry: it decided nothing, and the approval is now closed as expired. */
export function renderExpiredClick(expiredAt: number): string {
  return `:hourglass: Too late: this approval expired ${slackDate(new Date(expiredAt).toISOString(), '{date_short_pretty} at {time}')}, before your click. Nothing was approved or denied; it is now closed as expired, and the run does not resume with this request.`;
}

/** The same, as an error in the modal (plain text). */
export const EXPIRED_IN_MODAL = 'Nothing was decided: this approval had expired before you submitted. It is now closed as expired.';

/** Errors shown in a modal whose submit decided nothing, or could not be confirmed in time (plain text). */
export const MODAL_ERRORS = {
  unverified: 'Could not verify who you are with Slack right now, so nothing was decided. Try again in a moment.',
  unavailable: 'Nothing was decided: this approval could not be checked right now. Try again in a moment.',
  tooSlow: 'Nothing was decided: checking this took too long (Redis or Slack is slow right now). Try again in a moment.',
  unconfirmed:
    'Could not confirm this in time, and it will not be recorded after this message. Look at the card: if it still has its buttons, nothing was decided; try again.',
} as const;

/** When recording the click failed and it could not be read back: say so, and how to find out. */
export const UNCERTAIN_REPLY =
  ':warning: Your click may or may not have been recorded: Redis stopped answering. The card shows the outcome once it is recorded; if it still has its buttons in a minute, click again.';

/** When Slack could not say who clicked: fail closed. */
export const UNVERIFIED_REPLY = ':warning: Could not verify who you are with Slack right now, so nothing was decided. Try again in a moment.';

/** When Redis could not be read: fail closed, and say so. */
export const UNAVAILABLE_REPLY =
  ':warning: Could not check this approval right now, so nothing was decided and it stays pending. Try again in a moment.';

/** A click on a button this bot did not render (or whose value was altered). */
export const FOREIGN_BUTTON_REPLY = ':no_entry_sign: This button does not belong to a current approval card. Nothing was decided.';

/** Added to a refusal's reply once its clicker has been refused too often lately. */
export function renderIgnoredNotice(seconds: number): string {
  return `:hourglass_flowing_sand: You have made many clicks that changed nothing: for the next ${seconds} seconds, further clicks like this are ignored (counted, not recorded one by one).`;
}

/** When a click could not be made durable in time before it was acknowledged: nothing was decided, and never will be. */
export const NOT_ACCEPTED_REPLY =
  ':warning: Your click could not be recorded in time (Redis did not answer), so nothing was decided and the approval stays pending. Try again in a moment.';

/** When a request could not be checked against the requests already seen in time: it was not carried out. */
export const UNCHECKED_REPLY = ':warning: Could not check this request in time (Redis did not answer), so nothing was done and nothing was decided. Try again in a moment.';

/** The same, as plain text for an error shown in a modal. */
export const UNCHECKED_IN_MODAL = 'Could not check this request in time, so nothing was decided. Try again in a moment.';

/** When the ⋯ menu's form could not be opened within the 3 seconds Slack allows. */
export const MODAL_NOT_OPENED_REPLY = ':warning: The form could not be opened in time, so nothing was decided. Try again in a moment.';

/** The "View job" modal could not be opened in time (Redis or Slack slow): it decides nothing either way. */
export const JOB_NOT_SHOWN_REPLY = ':warning: The job could not be shown in time. Try again in a moment; nothing was decided.';
