import type { App, BlockAction, OverflowAction, ViewSubmitAction } from '@slack/bolt';
import type { ApprovalRecord, Click } from '../domain/approval.js';
import { noteRefusal, withIgnoredNotice } from './note-refusal.js';
import { ACTION_MORE, parseOverflowValue } from '../views/cards.js';
import { COMMENT_BLOCK, COMMENT_INPUT, DECIDE_MODAL, renderDecideModal, TYPED_BLOCK, TYPED_INPUT, type DecideModalMetadata } from '../views/decide-modal.js';
import { matchRoute } from '../domain/routes.js';
import { reply } from './buttons.js';
import { showProgress } from './card-progress.js';
import type { DecideDeps } from './deps.js';
import { IdentityUnavailableError } from './user-directory.js';
import { decideAndRecord, TooLateError, UncertainOutcomeError } from './record-click.js';
import { EXPIRED_IN_MODAL, FOREIGN_BUTTON_REPLY, MODAL_ERRORS, MODAL_NOT_OPENED_REPLY, refusalInModal, renderRefusal } from '../views/replies.js';
import type { Logger } from '../ops/logger.js';
import { withTimeout } from '../ops/with-timeout.js';
import { arrivalOf } from './request-guard.js';
import { createResponder } from './respond.js';

/**
 * "Approve with comment…" and "Deny with reason…": the card's overflow menu opens a modal; its
 * submit is a click with a comment, checked again against the approval as it is then (the card may
 * have been decided, superseded, expired or gone stale while the modal was open). A refusal is shown
 * in the modal; nothing is decided.
 */

/**
 * A submit is answered within Slack's 3 seconds whatever Redis and Slack do, or the reviewer sees an
 * error (Bolt answers HTTP 404 at 3,001 ms from the request's arrival:
 * https://api.slack.com/interactivity/handling#acknowledgment_response). Both clocks count from the
 * request's arrival at the receiver (the request guard's memory check comes before the handler), and
 * the last second is left to a busy machine. Nothing the submit asks for is recorded after
 * RECORD_BY_MS: the bot checks before it sends the record, and the record script checks Redis's own
 * clock (RECORD_CLICK's deadline). The answer waits until ANSWER_WITHIN_MS, so an answer that says
 * nothing was decided stays true as long as Redis's clock is less than the 500 ms between them
 * behind the bot's.
 */
const RECORD_BY_MS = 1500;
const ANSWER_WITHIN_MS = 2000;
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
      const note = await noteRefusal(deps, { reason: refusal?.reason ?? 'not_found', action: 'open_modal', userId: body.user.id, log }, record);
      return reply(respond, withIgnoredNotice(renderRefusal(refusal ?? { reason: 'not_found' }), note), log);
    }
    const typed = target.action === 'approve' && matchRoute(deps.routes, record.request).confirm === 'typed';
    await deps.slack.views.open({ trigger_id: body.trigger_id, view: renderDecideModal(record, target.action, { typed }) }).catch(notOpened);
  });

  app.view<ViewSubmitAction>(DECIDE_MODAL, async ({ ack, body, view, context }) => {
    const { receivedAt } = arrivalOf(context);
    // Nothing this submit asks for is recorded after this instant: its answer goes out after it.
    const notAfter = receivedAt + RECORD_BY_MS;
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
    const showError = (text: string, block = COMMENT_BLOCK) => ack({ response_action: 'errors', errors: { [block]: text } });
    let recording = false;
    const work = (async () => {
      // The modal names its card by id; the rest of the binding is the approval's own.
      const record = await deps.store.load(meta.a);
      const click: Click = {
        action: meta.action,
        user,
        ...(comment ? { comment } : {}),
        ...(typed !== undefined ? { typed } : {}),
        card: { approvalId: meta.a, cardId: meta.c, policySnapshot: record?.request.policy_snapshot ?? '', jobHash: record?.request.job_hash ?? '' },
      };
      return decideAndRecord(deps, click, { notAfter, onRecording: () => (recording = true), takeSettleLease: true });
    })();
    const answer = await settleWithin(work, Math.max(0, receivedAt + ANSWER_WITHIN_MS - Date.now()));

    if (answer.kind === 'late') {
      // Past RECORD_BY_MS nothing more is recorded; a record sent before it may still have gone through.
      log.error({ outcome: recording ? 'uncertain' : 'refused', reason: 'too_slow', recording }, 'modal submit not answered in time');
      await showError(recording ? MODAL_ERRORS.unconfirmed : MODAL_ERRORS.tooSlow);
      if (!recording) await noteRefusal(deps, { reason: 'too_slow', action: meta.action, userId: user.id, log }, meta.a);
      // A record that went through before the deadline is still shown on the card.
      void work.then(
        (settled) => afterRecord(deps, settled, log),
        (err: unknown) => log.warn({ err: String(err) }, 'modal submit failed after its answer'),
      );
      return;
    }
    if (answer.kind === 'failed') {
      const { reason, text } = failureOf(answer.err);
      log.error({ outcome: reason === 'uncertain' ? 'uncertain' : 'refused', reason, err: String(answer.err) }, 'modal submit decided nothing');
      await showError(text);
      if (reason !== 'uncertain') await noteRefusal(deps, { reason, action: meta.action, userId: user.id, log }, meta.a);
      return;
    }
    const settled = answer.value;
    const { outcome } = settled;
    // The refusal is noted before the answer, so the answer can say when further ones are ignored;
    // if Redis is too slow for that, the answer goes out on time without it and the note finishes after.
    const noteThenShow = async (reason: string, text: string, block?: string) => {
      const noting = noteRefusal(deps, { reason, action: meta.action, userId: user.id, log }, settled.record);
      const noted = await settleWithin(noting, Math.max(0, receivedAt + ANSWER_WITHIN_MS - Date.now()));
      await showError(withIgnoredNotice(text, noted.kind === 'done' ? noted.value : {}), block);
      await noting;
    };
    if (outcome.kind === 'refused') {
      log.info({ outcome: 'refused', reason: outcome.reason }, 'modal refused');
      const onTyping = outcome.reason === 'typed_mismatch' || outcome.reason === 'confirmation_required';
      await noteThenShow(outcome.reason, refusalInModal(outcome), onTyping && typed !== undefined ? TYPED_BLOCK : COMMENT_BLOCK);
      return;
    }
    if (outcome.kind === 'expired') {
      await noteThenShow('expired', EXPIRED_IN_MODAL);
    } else {
      await ack();
    }
    await afterRecord(deps, settled, log);
  });
}

/** Why a submit that failed decided nothing (or may have: `uncertain`), and what the modal says. */
function failureOf(err: unknown): { reason: 'unverified' | 'too_slow' | 'uncertain' | 'unavailable'; text: string } {
  if (err instanceof IdentityUnavailableError) return { reason: 'unverified', text: MODAL_ERRORS.unverified };
  if (err instanceof TooLateError) return { reason: 'too_slow', text: MODAL_ERRORS.tooSlow };
  if (err instanceof UncertainOutcomeError) return { reason: 'uncertain', text: MODAL_ERRORS.unconfirmed };
  return { reason: 'unavailable', text: MODAL_ERRORS.unavailable };
}

/** What a recorded submit sets off once answered: the approvals counted on the card, or the decision settled. */
async function afterRecord(deps: DecideDeps, { outcome, record, settleToken }: Awaited<ReturnType<typeof decideAndRecord>>, log: Logger): Promise<void> {
  if (outcome.kind === 'refused') return;
  if (outcome.kind === 'counted') {
    log.info({ outcome: 'approval_counted', votes: outcome.votes.length, dropped: outcome.dropped?.length ?? 0 }, 'approval counted');
    await showProgress(deps, record!, outcome.votes, log, outcome.dropped);
    return;
  }
  log.info({ outcome: outcome.decision.decision, comment: true, dropped: outcome.kind === 'decided' ? (outcome.dropped?.length ?? 0) : 0 }, 'decision recorded');
  await deps.outbox
    .settle({ ...record!, decision: outcome.decision }, settleToken ? { leaseToken: settleToken } : {})
    .catch((err: unknown) => log.warn({ err: String(err) }, 'decision recorded but not yet settled; the outbox drain will finish it'));
}

/** The work's result or error if it settles within `ms`, else `late` (the work goes on). */
async function settleWithin<T>(work: Promise<T>, ms: number): Promise<{ kind: 'done'; value: T } | { kind: 'failed'; err: unknown } | { kind: 'late' }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<{ kind: 'late' }>((resolve) => (timer = setTimeout(() => resolve({ kind: 'late' }), ms)));
  try {
    return await Promise.race([work.then((value) => ({ kind: 'done' as const, value }), (err: unknown) => ({ kind: 'failed' as const, err })), late]);
  } finally {
    clearTimeout(timer);
  }
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
