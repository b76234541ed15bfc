import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { ApprovalRecord } from '../domain/approval.js';
import { withTimeout } from '../ops/with-timeout.js';
import { ACTION_VIEW_JOB, parseViewJobValue, renderJobModal } from '../views/job-preview.js';
import { FOREIGN_BUTTON_REPLY, JOB_NOT_SHOWN_REPLY } from '../views/replies.js';
import { reply } from './buttons.js';
import type { DecideDeps } from './deps.js';
import { arrivalOf } from './request-guard.js';
import { createResponder } from './respond.js';

/**
 * "View job": opens a modal with the job as the approval kept it and the job hash it was checked
 * against. It decides nothing, and shows only what the card's channel already shows in part: the
 * click must come from the channel the card is in, on that approval's card. It passes the request
 * guard like every other request.
 */

// The read of the approval ends this long (ms) after the click arrived, leaving views.open time to
// use the trigger_id before it expires (3 s: https://api.slack.com/interactivity/handling#modal_responses).
const READ_BUDGET_MS = 2000;

export function registerViewJob(app: App, deps: Pick<DecideDeps, 'store' | 'slack' | 'log'>): void {
  app.action<BlockAction<ButtonAction>>({ type: 'block_actions', action_id: ACTION_VIEW_JOB }, async ({ ack, body, action, context }) => {
    await ack();
    const { receivedAt } = arrivalOf(context);
    const respond = createResponder(body.response_url);
    const log = deps.log.child({ user: body.user.id, action: 'view_job' });
    const target = parseViewJobValue(action.value);
    if (!target) {
      log.warn({ outcome: 'refused', reason: 'foreign_button' }, 'view job refused');
      return reply(respond, FOREIGN_BUTTON_REPLY, log);
    }
    const budgetMs = Math.max(0, receivedAt + READ_BUDGET_MS - Date.now());
    let record: ApprovalRecord | undefined;
    try {
      record = await withTimeout(deps.store.load(target.approvalId), budgetMs, `Redis did not answer within ${budgetMs} ms`);
    } catch (err) {
      log.warn({ outcome: 'not_opened', err: String(err) }, 'could not read the approval in time');
      return reply(respond, JOB_NOT_SHOWN_REPLY, log);
    }
    // Only on the approval's own card, where its channel can see it.
    const onItsCard = record && record.cardId === target.cardId && record.card !== undefined && record.card.channel === body.channel?.id;
    if (!record || !onItsCard) {
      log.warn({ outcome: 'refused', reason: record ? 'stale_card' : 'not_found', approval_id: target.approvalId }, 'view job refused');
      return reply(respond, FOREIGN_BUTTON_REPLY, log);
    }
    await deps.slack.views.open({ trigger_id: body.trigger_id, view: renderJobModal(record) }).then(
      () => log.info({ outcome: 'opened', approval_id: record.id }, 'job shown'),
      async (err: unknown) => {
        log.warn({ outcome: 'not_opened', err: String(err) }, 'could not open the job modal in time');
        await reply(respond, JOB_NOT_SHOWN_REPLY, log);
      },
    );
  });
}
