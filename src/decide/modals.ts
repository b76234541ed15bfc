import type { App, BlockAction, OverflowAction, ViewSubmitAction } from '@slack/bolt';
import type { ApprovalRecord, Click } from '../domain/approval.js';
import { noteRefusal } from './note-refusal.js';
import { ACTION_MORE, parseOverflowValue } from '../views/cards.js';
import { COMMENT_BLOCK, COMMENT_INPUT, DECIDE_MODAL, renderDecideModal, TYPED_BLOCK, TYPED_INPUT, type DecideModalMetadata } from '../views/decide-modal.js';
import { matchRoute } from '../domain/routes.js';
import { reply, showProgress } from './buttons.js';
import type { DecideDeps } from './deps.js';
import { IdentityUnavailableError } from './user-directory.js';
import { decideAndRecord } from './record-click.js';
import { FOREIGN_BUTTON_REPLY, MODAL_NOT_OPENED_REPLY, refusalInModal, renderRefusal } from '../views/replies.js';
import { withTimeout } from '../ops/with-timeout.js';
import { arrivalOf } from './request-guard.js';
import { createResponder } from './respond.js';

/**
 * "Approve with comment…" and "Deny with reason…": the card's overflow menu opens a modal; its
 * submit is a click with a comment, checked again against the approval as it is then (the card may
 * have been decided, superseded or gone stale while the modal was open). A refusal is shown in the
 * modal; nothing is decided.
 */

// The modal's submit must be answered within Slack's 3 seconds, with the outcome: read quickly.
const SUBMIT_TIMEOUT_MS = 2500;
// The ⋯ menu's read of the approval ends this long (ms) after the click arrived, leaving views.open
// time to use the trigger_id before it expires (3 s: https://api.slack.com/interactivity/handling#modal_responses).
const MODAL_READ_BUDGET_MS = 2000;

export function registerModals(app: App, deps: DecideDeps): void {
  app.action<BlockAction<OverflowAction>>({ type: 'block_actions', action_id: ACTION_MORE }, async ({ ack, body, action, context }) => {
    await ack();
    const { receivedAt } = arrivalOf(context);
    const respond = createResponder(body.response_url);
    const log = deps.log.child({ user: body.user.id, action: 'open_modal' });
    const target = parseOverflowValue(action.selected_option?.value);
    if (!target) {
      await noteRefusal(deps, { reason: 'foreign_button', action: 'open_modal', userId: body.user.id, log }, undefined);
      return reply(respond, FOREIGN_BUTTON_REPLY, log);
    }
    // The trigger_id works for 3 s from the click: whatever cannot open the modal by then says so.
    const notOpened = async (err: unknown) => {
      log.warn({ outcome: 'not_opened', err: String(err) }, 'could not open the modal in time: nothing decided');
      await reply(respond, MODAL_NOT_OPENED_REPLY, log);
    };
    const budgetMs = Math.max(0, receivedAt + MODAL_READ_BUDGET_MS - Date.now());
    let record: ApprovalRecord | undefined;
    try {
      record = await withTimeout(deps.store.load(target.approvalId), budgetMs, `Redis did not answer within ${budgetMs} ms`);
    } catch (err) {
      return notOpened(err);
    }
    const refusal = !record
      ? ({ reason: 'not_found' } as const)
      : record.cardId !== target.cardId
        ? ({ reason: 'stale_card' } as const)
        : record.decision
          ? ({ reason: 'already_decided', decision: record.decision } as const)
          : record.cancelled
            ? ({ reason: 'cancelled', cancellation: record.cancelled } as const)
            : undefined;
    if (refusal || !record) {
      await noteRefusal(deps, { reason: refusal?.reason ?? 'not_found', action: 'open_modal', userId: body.user.id, log }, record);
      return reply(respond, renderRefusal(refusal ?? { reason: 'not_found' }), log);
    }
    const typed = target.action === 'approve' && matchRoute(deps.routes, record.request).confirm === 'typed';
    await deps.slack.views.open({ trigger_id: body.trigger_id, view: renderDecideModal(record, target.action, { typed }) }).catch(notOpened);
  });

  app.view<ViewSubmitAction>(DECIDE_MODAL, async ({ ack, body, view }) => {
    const teamId = body.user.team_id ?? body.team?.id;
    const user = { id: body.user.id, name: body.user.id, ...(teamId ? { team_id: teamId } : {}) };
    let log = deps.log.child({ user: user.id, action: 'modal_submit' });
    const meta = parseMetadata(view.private_metadata);
    const comment = view.state.values[COMMENT_BLOCK]?.[COMMENT_INPUT]?.value?.trim() || undefined;
    // Absent when the modal has no typed confirmation; the route decides whether one was needed.
    const typed = view.state.values[TYPED_BLOCK]?.[TYPED_INPUT]?.value ?? undefined;
    if (!meta || (!comment && meta.o !== 1)) {
      await ack({ response_action: 'errors', errors: { [COMMENT_BLOCK]: 'This form is not one of ours, or the text is empty. Nothing was decided.' } });
      return;
    }
    log = log.child({ approval_id: meta.a });
    const record = await deps.store.load(meta.a).catch(() => undefined);
    const click: Click = {
      action: meta.action,
      user,
      ...(comment ? { comment } : {}),
      ...(typed !== undefined ? { typed } : {}),
      card: { approvalId: meta.a, cardId: meta.c, policySnapshot: record?.request.policy_snapshot ?? '', jobHash: record?.request.job_hash ?? '' },
    };
    let settled: Awaited<ReturnType<typeof decideAndRecord>>;
    try {
      settled = await withTimeout(decideAndRecord(deps, click), SUBMIT_TIMEOUT_MS, `no answer within ${SUBMIT_TIMEOUT_MS} ms`);
    } catch (err) {
      if (err instanceof IdentityUnavailableError) {
        log.error({ outcome: 'refused', reason: 'unverified', err: err.message }, 'modal refused: could not verify the clicker');
        await noteRefusal(deps, { reason: 'unverified', action: meta.action, userId: user.id, log }, record);
        await ack({ response_action: 'errors', errors: { [COMMENT_BLOCK]: 'Could not verify who you are with Slack right now, so nothing was decided. Try again in a moment.' } });
        return;
      }
      // Past the deadline the click may still be recorded: the modal cannot say "nothing was decided".
      log.error({ outcome: 'uncertain', err: String(err) }, 'modal submit not answered in time');
      await ack({ response_action: 'errors', errors: { [COMMENT_BLOCK]: 'Could not confirm this in time. Look at the card: it shows the outcome once recorded; if it still has its buttons, try again.' } });
      return;
    }
    const { outcome } = settled;
    if (outcome.kind === 'refused') {
      log.info({ outcome: 'refused', reason: outcome.reason }, 'modal refused');
      await noteRefusal(deps, { reason: outcome.reason, action: meta.action, userId: user.id, log }, settled.record);
      const onTyping = outcome.reason === 'typed_mismatch' || outcome.reason === 'confirmation_required';
      await ack({ response_action: 'errors', errors: { [onTyping && typed !== undefined ? TYPED_BLOCK : COMMENT_BLOCK]: refusalInModal(outcome) } });
      return;
    }
    await ack();
    if (outcome.kind === 'counted') {
      log.info({ outcome: 'approval_counted', votes: outcome.votes.length }, 'approval counted');
      await showProgress(deps, settled.record!, outcome.votes, log);
      return;
    }
    log.info({ outcome: outcome.decision.decision, comment: true }, 'decision recorded');
    await deps.outbox
      .settle({ ...settled.record!, decision: outcome.decision })
      .catch((err: unknown) => log.warn({ err: String(err) }, 'decision recorded but not yet settled; the outbox drain will finish it'));
  });
}

function parseMetadata(raw: string): DecideModalMetadata | undefined {
  try {
    const meta = JSON.parse(raw) as { action?: unknown; a?: unknown; c?: unknown; o?: unknown };
    if ((meta.action === 'approve' || meta.action === 'deny') && typeof meta.a === 'string' && typeof meta.c === 'string') {
      return { action: meta.action, a: meta.a, c: meta.c, ...(meta.o === 1 ? { o: 1 as const } : {}) };
    }
  } catch {
    // Not our metadata: refused below.
  }
  return undefined;
}
