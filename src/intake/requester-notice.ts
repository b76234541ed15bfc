import type { WebClient } from '@slack/web-api';
import type { ApprovalRecord } from '../domain/approval.js';
import { renderOutcome, slackDate } from '../views/cards.js';
import type { Logger } from '../ops/logger.js';
import { code, escapeMrkdwn, truncate, truncateMrkdwn } from '../views/mrkdwn.js';
import type { Store } from '../store/store.js';

/**
 * Direct messages to the person who started the run (the request's `initiated_by`): when its card is
 * posted, with a link, and when the approval ends. Each is sent once per approval (claimed in Redis)
 * and on a best-effort basis: a failed DM is logged and never holds up the card or the decision.
 */

const NOTICE_MAX = 3000;

export interface RequesterNotices {
  posted(record: ApprovalRecord): Promise<void>;
  ended(record: ApprovalRecord): Promise<void>;
}

export function createRequesterNotices(deps: { slack: WebClient; store: Store; log: Logger }): RequesterNotices {
  /** Claims the notice first, so that a redelivery or a second replica asks Slack for nothing. */
  const send = async (record: ApprovalRecord, kind: 'posted' | 'ended', render: () => Promise<string>) => {
    const to = record.request.initiated_by;
    if (!to) return;
    const log = deps.log.child({ run_id: record.request.run_id, step_id: record.request.step_id, notice: kind, to });
    try {
      if (!(await deps.store.claimNotice(record.id, kind))) return;
      // A user id as the channel: Slack posts it in the user's DM with the app.
      await deps.slack.chat.postMessage({ channel: to, text: await render(), unfurl_links: false, unfurl_media: false });
      log.info('requester notified');
    } catch (err) {
      log.warn({ err: String(err) }, 'could not notify the requester');
    }
  };
  return {
    async posted(record) {
      const card = record.card;
      if (!card) return;
      await send(record, 'posted', async () => {
        const link = await deps.slack.chat
          .getPermalink({ channel: card.channel, message_ts: card.ts })
          .then((answer) => answer.permalink)
          .catch(() => undefined);
        return renderPostedNotice(record, link);
      });
    },
    async ended(record) {
      const text = renderEndedNotice(record);
      if (text) await send(record, 'ended', async () => text);
    },
  };
}

/** "Your step … is waiting for approval in #channel: open the card." */
export function renderPostedNotice(record: ApprovalRecord, permalink: string | undefined): string {
  const where = record.card ? ` in <#${record.card.channel}>` : '';
  const link = permalink ? `: <${permalink}|open the card>` : '';
  return truncateMrkdwn(`:hourglass: ${subject(record)} is waiting for approval${where}${link}.`, NOTICE_MAX);
}

/** How the approval ended, with the comment or the reason given: for an ending that has happened, else undefined. */
export function renderEndedNotice(record: ApprovalRecord): string | undefined {
  if (record.decision) {
    const comment = record.decision.comment ? `\n>${escapeMrkdwn(truncate(record.decision.comment, 1000)).replace(/\n/g, '\n>')}` : '';
    return truncateMrkdwn(`${subject(record)}: ${renderOutcome(record.decision)}${comment}`, NOTICE_MAX);
  }
  if (record.cancelled) {
    const when = slackDate(record.cancelled.at, '{date_short_pretty} at {time}');
    return truncateMrkdwn(`${subject(record)}: :no_entry_sign: *Cancelled* by the workflow ${when}: ${escapeMrkdwn(record.cancelled.reason)}`, NOTICE_MAX);
  }
  return undefined;
}

/** "Your run `run_8f9a`, step *incident-triage › remediate*" */
function subject(record: ApprovalRecord): string {
  const r = record.request;
  return `Your run ${code(r.run_id)}, step *${escapeMrkdwn(`${r.workflow ? `${r.workflow} › ` : ''}${r.step_id}`)}*`;
}
