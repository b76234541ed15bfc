import type { App, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import type { ApprovalRecord, Click } from '../domain/approval.js';
import { showProgress } from './card-progress.js';
import { noteRefusal, withIgnoredNotice } from './note-refusal.js';
import { ACTION_APPROVE, ACTION_DENY, parseButtonValue } from '../views/cards.js';
import { renderDecideModal } from '../views/decide-modal.js';
import type { Logger } from '../ops/logger.js';
import { withTimeout } from '../ops/with-timeout.js';
import { IdentityUnavailableError } from './user-directory.js';
import { FOREIGN_BUTTON_REPLY, NOT_ACCEPTED_REPLY, renderCounted, renderDroppedReply, renderExpiredClick, renderRefusal, UNAVAILABLE_REPLY, UNCERTAIN_REPLY, UNVERIFIED_REPLY } from '../views/replies.js';
import { decideAndRecord, NotConfirmedError, UncertainOutcomeError, type ClickResult } from './record-click.js';
import type { DecideDeps } from './deps.js';
import type { ClickInbox, Delivery, InboxClick } from './click-inbox.js';
import { ackBudgetLeft, arrivalOf, refuseRequest } from './request-guard.js';
import { createResponder, type Respond } from './respond.js';

/**
 * The card's buttons (and the /approvals list's, which carry the same action ids):
 * accept into the inbox → ack → verify → decide → record → resume → update the card.
 * Bolt has checked the request's signature and the guard its timestamp before this runs. Nothing
 * comes before the acknowledgement but one Redis script: the request is remembered (a request seen
 * before is refused) and the click appended to the inbox, so an acknowledged click survives this
 * process; {@link processClick} then runs here, or from the inbox on another process.
 */

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & { context: Parameters<typeof arrivalOf>[0] };

/** What the buttons need besides the click flow's deps: this process's click inbox. */
export type ButtonDeps = DecideDeps & { clicks: ClickInbox };

export function registerButtons(app: App, deps: ButtonDeps): void {
  app.action<BlockAction<ButtonAction>>({ type: 'block_actions', action_id: ACTION_APPROVE }, (args) => acceptClick(deps, args, 'approve'));
  app.action<BlockAction<ButtonAction>>({ type: 'block_actions', action_id: ACTION_DENY }, (args) => acceptClick(deps, args, 'deny'));
}

async function acceptClick(deps: ButtonDeps, { ack, body, action, context }: ButtonArgs, kind: Click['action']): Promise<void> {
  const { requestKey, receivedAt } = arrivalOf(context);
  const teamId = body.user.team_id ?? body.team?.id;
  const click: InboxClick = {
    action: kind,
    user_id: body.user.id,
    ...(teamId ? { team_id: teamId } : {}),
    ...(action.value !== undefined ? { value: action.value } : {}),
    response_url: body.response_url,
    trigger_id: body.trigger_id,
    received_at: receivedAt,
  };
  const log = deps.log.child({ user: click.user_id, action: kind });
  const budgetMs = ackBudgetLeft(receivedAt);
  const accepted = await withTimeout(deps.clicks.accept(requestKey, click), budgetMs, `Redis did not answer within ${budgetMs} ms`).catch((err: unknown) => {
    log.error({ outcome: 'refused', reason: 'unavailable', err: String(err) }, 'click refused: it could not be made durable before the acknowledgement');
    return undefined;
  });
  if (accepted?.kind === 'replayed') refuseRequest(deps, 'replayed', kind);
  await ack();
  if (!accepted) {
    // If the append lands after all, it is never confirmed, so it is discarded: this reply stays true.
    await noteRefusal(deps, { reason: 'unavailable', action: kind, userId: click.user_id, log }, undefined);
    return reply(createResponder(click.response_url), NOT_ACCEPTED_REPLY, log);
  }
  await deps.clicks.run(accepted.id, click);
}

/**
 * One click, from its listener or from the inbox: verify who clicked, decide, record, then tell the
 * clicker or update the card. Replies go through `respond` (the click's response_url), never Bolt.
 * Processing it twice records at most once (first writer wins); a second delivery of a click whose
 * decision an earlier delivery recorded settles it and stays silent.
 */
export async function processClick(deps: DecideDeps, clicked: InboxClick, respond: Respond, delivery: Pick<Delivery, 'redelivered' | 'confirmed'>): Promise<void> {
  const kind = clicked.action;
  // Only the signed payload's user id and team identify the clicker; the name comes from users.info.
  const user = { id: clicked.user_id, name: clicked.user_id, ...(clicked.team_id ? { team_id: clicked.team_id } : {}) };
  let log = deps.log.child({ user: user.id, action: kind, ...(delivery.redelivered ? { redelivered: true } : {}) });
  const card = parseButtonValue(clicked.value);
  if (!card) {
    if (delivery.confirmed && !(await delivery.confirmed)) return;
    log.warn({ outcome: 'refused', reason: 'foreign_button' }, 'click refused');
    await noteRefusal(deps, { reason: 'foreign_button', action: kind, userId: user.id, log }, undefined);
    return reply(respond, FOREIGN_BUTTON_REPLY, log);
  }
  log = log.child({ approval_id: card.approvalId });
  const click: Click = { action: kind, user, card };

  let settled: ClickResult;
  try {
    settled = await decideAndRecord(deps, click, { takeSettleLease: true, ...(delivery.confirmed ? { confirmed: delivery.confirmed } : {}) });
  } catch (err) {
    // The inbox tells the clicker (its drain discards an entry never confirmed).
    if (err instanceof NotConfirmedError) return;
    if (err instanceof IdentityUnavailableError) {
      log.error({ outcome: 'refused', reason: 'unverified', err: err.message }, 'click refused: could not verify the clicker');
      const note = await noteRefusal(deps, { reason: 'unverified', action: kind, userId: user.id, log }, card.approvalId);
      return reply(respond, withIgnoredNotice(UNVERIFIED_REPLY, note), log);
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
  const { outcome, record, settleToken } = settled;
  if (record) log = log.child({ run_id: record.request.run_id, step_id: record.request.step_id });
  const fallback = (rendered: Record<string, unknown> & { text: string }) => respond({ replace_original: true, ...rendered });
  switch (outcome.kind) {
    case 'refused': {
      if (delivery.redelivered && outcome.reason === 'already_decided' && outcome.decision.decided_by.id === user.id && record) {
        // An earlier delivery of this very click recorded it, then its process died: finish its work.
        log.info({ outcome: outcome.decision.decision }, 'decision recorded by an earlier delivery of this click');
        return settle(deps, { ...record, decision: outcome.decision }, fallback, log);
      }
      if (outcome.reason === 'confirmation_required' && record) return askToType(deps, record, user.id, clicked.trigger_id, respond, log);
      log.info({ outcome: 'refused', reason: outcome.reason }, 'click refused');
      const note = await noteRefusal(deps, { reason: outcome.reason, action: kind, userId: user.id, log }, record);
      return reply(respond, withIgnoredNotice(renderRefusal(outcome), note), log);
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
      // The decision goes to the resume queue first; the clicker's reply need not wait for it.
      const settling = settle(deps, { ...record!, decision }, fallback, log, settleToken);
      if (outcome.kind === 'expired') {
        const note = await noteRefusal(deps, { reason: 'expired', action: kind, userId: user.id, log }, record);
        await reply(respond, withIgnoredNotice(renderExpiredClick(outcome.expiredAt), note), log);
      } else if (outcome.dropped?.length) {
        await reply(respond, renderDroppedReply(outcome.dropped), log);
      }
      return settling;
    }
  }
}

async function settle(deps: DecideDeps, record: ApprovalRecord, fallback: (rendered: Record<string, unknown> & { text: string }) => Promise<void>, log: Logger, leaseToken?: string): Promise<void> {
  try {
    await deps.outbox.settle(record, { fallback, ...(leaseToken ? { leaseToken } : {}) });
  } catch (err) {
    log.warn({ err: String(err) }, 'decision recorded but not yet settled; the outbox drain will finish it');
  }
}

/**
 * A `confirm: typed` route: Approve opens the modal where the reviewer types the step id; its submit
 * decides. The click itself decided nothing, so it is noted as a refusal (`confirmation_required`)
 * like any other: without that, clicking Approve again and again would add a `clicked` entry each
 * time, unthrottled.
 */
async function askToType(deps: DecideDeps, record: ApprovalRecord, userId: string, triggerId: string, respond: Respond, log: Logger): Promise<void> {
  try {
    await deps.slack.views.open({ trigger_id: triggerId, view: renderDecideModal(record, 'approve', { typed: true, commentOptional: true }) });
    log.info({ outcome: 'confirmation_asked' }, 'typed confirmation asked');
    await noteRefusal(deps, { reason: 'confirmation_required', action: 'approve', userId, log }, record);
  } catch (err) {
    log.warn({ outcome: 'refused', reason: 'confirmation_required', err: String(err) }, 'could not open the typed confirmation');
    const note = await noteRefusal(deps, { reason: 'confirmation_required', action: 'approve', userId, log }, record);
    await reply(respond, withIgnoredNotice(renderRefusal({ reason: 'confirmation_required' }), note), log);
  }
}

/** An ephemeral reply to the person who acted; a reply that fails is logged, never thrown. */
export async function reply(respond: Respond, text: string, log: Logger): Promise<void> {
  await respond({ response_type: 'ephemeral', replace_original: false, text }).catch((err: unknown) =>
    log.warn({ err: String(err) }, 'could not send the ephemeral reply'),
  );
}
