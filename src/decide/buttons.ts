import type { App, BlockAction, ButtonAction, RespondFn, SlackActionMiddlewareArgs } from '@slack/bolt';
import type { ApprovalRecord, Click, DroppedVote, Outcome } from '../domain/approval.js';
import { noteRefusal } from './note-refusal.js';
import { ACTION_APPROVE, ACTION_DENY, cardContext, parseButtonValue, renderApprovalCounted, renderRequestCard } from '../views/cards.js';
import { renderDecideModal } from '../views/decide-modal.js';
import type { Logger } from '../ops/logger.js';
import { IdentityUnavailableError } from './user-directory.js';
import { FOREIGN_BUTTON_REPLY, renderCounted, renderDroppedReply, renderDroppedVotes, renderExpiredClick, renderIgnoredNotice, renderRefusal, UNAVAILABLE_REPLY, UNCERTAIN_REPLY, UNVERIFIED_REPLY } from '../views/replies.js';
import { matchRoute } from '../domain/routes.js';
import { decideAndRecord, UncertainOutcomeError } from './record-click.js';
import type { DecideDeps } from './deps.js';

/**
 * The card's buttons: ack → verify → decide → record → resume → update the card.
 * Bolt has already checked the request's signature (v0 HMAC, 5-minute window) before this runs.
 */

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;

export function registerButtons(app: App, deps: DecideDeps): void {
  app.action<BlockAction<ButtonAction>>({ type: 'block_actions', action_id: ACTION_APPROVE }, (args) => handleClick(deps, args, 'approve'));
  app.action<BlockAction<ButtonAction>>({ type: 'block_actions', action_id: ACTION_DENY }, (args) => handleClick(deps, args, 'deny'));
}

async function handleClick(deps: DecideDeps, { ack, body, action, respond }: ButtonArgs, kind: Click['action']): Promise<void> {
  await ack();
  // Only the signed payload's user id and team identify the clicker; the name comes from users.info.
  const teamId = body.user.team_id ?? body.team?.id;
  const user = { id: body.user.id, name: body.user.id, ...(teamId ? { team_id: teamId } : {}) };
  let log = deps.log.child({ user: user.id, action: kind });
  const card = parseButtonValue(action.value);
  if (!card) {
    log.warn({ outcome: 'refused', reason: 'foreign_button' }, 'click refused');
    await noteRefusal(deps, { reason: 'foreign_button', action: kind, userId: user.id, log }, undefined);
    return reply(respond, FOREIGN_BUTTON_REPLY, log);
  }
  log = log.child({ approval_id: card.approvalId });
  const click: Click = { action: kind, user, card };

  let settled: { outcome: Outcome; record: ApprovalRecord | undefined };
  try {
    settled = await decideAndRecord(deps, click);
  } catch (err) {
    if (err instanceof IdentityUnavailableError) {
      log.error({ outcome: 'refused', reason: 'unverified', err: err.message }, 'click refused: could not verify the clicker');
      await noteRefusal(deps, { reason: 'unverified', action: kind, userId: user.id, log }, card.approvalId);
      return reply(respond, UNVERIFIED_REPLY, log);
    }
    if (err instanceof UncertainOutcomeError) {
      log.error({ outcome: 'uncertain', err: err.message }, 'click outcome unknown: the record failed and could not be read back');
      return reply(respond, UNCERTAIN_REPLY, log);
    }
    log.error({ outcome: 'refused', reason: 'unavailable', err: String(err) }, 'click refused: could not read the approval or its approvers');
    // Redis (or Slack's user groups) did not answer: reading the approval for the audit could hang too.
    await noteRefusal(deps, { reason: 'unavailable', action: kind, userId: user.id, log }, undefined);
    return reply(respond, UNAVAILABLE_REPLY, log);
  }
  const { outcome, record } = settled;
  if (record) log = log.child({ run_id: record.request.run_id, step_id: record.request.step_id });
  switch (outcome.kind) {
    case 'refused': {
      if (outcome.reason === 'confirmation_required' && record) return askToType(deps, record, user.id, body.trigger_id, respond, log);
      log.info({ outcome: 'refused', reason: outcome.reason }, 'click refused');
      const { ignoredForSec } = await noteRefusal(deps, { reason: outcome.reason, action: kind, userId: user.id, log }, record);
      return reply(respond, ignoredForSec ? `${renderRefusal(outcome)}\n${renderIgnoredNotice(ignoredForSec)}` : renderRefusal(outcome), log);
    }
    case 'counted': {
      log.info({ outcome: 'approval_counted', votes: outcome.votes.length, required: outcome.required, dropped: outcome.dropped?.length ?? 0 }, 'approval counted');
      await showProgress(deps, record!, outcome.votes, log, outcome.dropped);
      return reply(respond, renderCounted(outcome.votes.length, outcome.required, outcome.dropped), log);
    }
    case 'expired':
    case 'decided': {
      const { decision } = outcome;
      log.info({ outcome: decision.decision, policy_snapshot: decision.policy_snapshot, job_hash: decision.job_hash }, 'decision recorded');
      if (outcome.kind === 'expired') {
        await noteRefusal(deps, { reason: 'expired', action: kind, userId: user.id, log }, record);
        await reply(respond, renderExpiredClick(outcome.expiredAt), log);
      } else if (outcome.dropped?.length) {
        await reply(respond, renderDroppedReply(outcome.dropped), log);
      }
      try {
        await deps.outbox.settle({ ...record!, decision }, { fallback: (rendered) => respond({ replace_original: true, ...rendered }) });
      } catch (err) {
        log.warn({ err: String(err) }, 'decision recorded but not yet settled; the outbox drain will finish it');
      }
    }
  }
}

/** A `confirm: typed` route: Approve opens the modal where the reviewer types the step id; its submit decides. */
async function askToType(deps: DecideDeps, record: ApprovalRecord, userId: string, triggerId: string, respond: RespondFn, log: Logger): Promise<void> {
  try {
    await deps.slack.views.open({ trigger_id: triggerId, view: renderDecideModal(record, 'approve', { typed: true, commentOptional: true }) });
    log.info({ outcome: 'confirmation_asked' }, 'typed confirmation asked');
  } catch (err) {
    log.warn({ outcome: 'refused', reason: 'confirmation_required', err: String(err) }, 'could not open the typed confirmation');
    await noteRefusal(deps, { reason: 'confirmation_required', action: 'approve', userId, log }, record);
    await reply(respond, renderRefusal({ reason: 'confirmation_required' }), log);
  }
}

/**
 * Shows the approvals counted on the card, and says who approved in its thread ("@alice approved: 1 of 2");
 * both say which approvals counted before no longer stand, when some were dropped.
 */
export async function showProgress(deps: DecideDeps, record: ApprovalRecord, votes: ApprovalRecord['votes'], log: Logger, dropped: DroppedVote[] = []): Promise<void> {
  if (!record.card) return;
  const route = matchRoute(deps.routes, record.request);
  const note = dropped.length ? { note: renderDroppedVotes(dropped) } : {};
  const context = { ...cardContext(route, record, votes), ...note };
  const { text, blocks } = renderRequestCard(record, context);
  const latest = votes.at(-1);
  await Promise.all([
    deps.slack.chat
      .update({ channel: record.card.channel, ts: record.card.ts, text, blocks })
      .catch((err: unknown) => log.warn({ err: String(err) }, 'could not show the approvals counted on the card')),
    latest &&
      deps.slack.chat
        .postMessage({
          channel: record.card.channel,
          thread_ts: record.card.ts,
          text: [renderApprovalCounted(latest, votes.length, context.requiredApprovals), ...(dropped.length ? [renderDroppedReply(dropped)] : [])].join('\n'),
        })
        .catch((err: unknown) => log.warn({ err: String(err) }, 'could not say in the thread who approved')),
  ]);
}

export async function reply(respond: RespondFn, text: string, log: Logger): Promise<void> {
  await respond({ response_type: 'ephemeral', replace_original: false, text }).catch((err: unknown) =>
    log.warn({ err: String(err) }, 'could not send the ephemeral reply'),
  );
}
