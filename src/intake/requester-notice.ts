import type { WebClient } from '@slack/web-api';
import type { ApprovalRecord } from '../domain/approval.js';
import { renderOutcome, slackDate } from '../views/cards.js';
import type { Logger } from '../ops/logger.js';
import { TEXT_ONLY_MAX } from '../views/budget.js';
import { code, literal, quote, truncateMrkdwn } from '../views/mrkdwn.js';
import type { Store } from '../store/store.js';

/**
 * Direct messages to the person who started the run (the request's `initiated_by`): when its card is
 * posted, with a link, and when the approval ends. Each is sent once per approval (claimed in Redis)
 * and on a best-effort basis: a failed DM is logged and never holds up the card or the decision.
 */

// Each name the requester gave, in characters after escaping: the DM points at the card, which shows more.
const NAME_MAX = 100;

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
  return `:hourglass: ${subject(record)} is waiting for approval${where}${link}.`;
}

/**
 * How the approval ended, with the comment or the reason given (quoted, cut to what the message
 * has room for): for an ending that has happened, else undefined.
 */
export function renderEndedNotice(record: ApprovalRecord): string | undefined {
  if (record.decision) {
    const said = record.decision.comment;
    const head = `${subject(record)}: ${renderOutcome(record.decision)}`;
    return said ? `${head}\n${truncateMrkdwn(quote(literal(said)), TEXT_ONLY_MAX - head.length - 1)}` : head;
  }
  if (record.cancelled) {
    const when = slackDate(record.cancelled.at, '{date_short_pretty} at {time}');
    const head = `${subject(record)}: :no_entry_sign: *Cancelled* by the workflow ${when}: `;
    return head + literal(record.cancelled.reason, TEXT_ONLY_MAX - head.length);
  }
  return undefined;
}

/** "Your run `run_8f9a`, step `incident-triage` › `remediate`": what the requester named, in code. */
function subject(record: ApprovalRecord): string {
  const r = record.request;
  return `Your run ${code(r.run_id, NAME_MAX)}, step ${r.workflow ? `${code(r.workflow, NAME_MAX)} › ` : ''}${code(r.step_id, NAME_MAX)}`;
}
