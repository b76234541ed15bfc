import type { WebClient } from '@slack/web-api';
import type { Approval, CardLocation } from '../domain/approval.js';
import { CARD_EVENT_TYPE } from '../views/cards.js';
import type { Logger } from '../ops/logger.js';
import { classifySlackError } from '../ops/slack-errors.js';

// How far back before the approval was created a card could carry an earlier timestamp (clock skew).
const SKEW_SEC = 120;
const PAGE_SIZE = 200;
const MAX_PAGES = 10;

interface MessageWithMetadata {
  ts?: string;
  metadata?: { event_type?: string; event_payload?: Record<string, unknown> };
}

/**
 * Looks in each place the card may be (a channel, a thread, a fallback channel) for the card an
 * earlier, crashed attempt posted, by the
 * message metadata every card carries. This closes the window between Slack's answer and the
 * ts being saved, so a crash there does not leave a second card.
 *
 * @returns the card, or undefined when there is none, or when the app may not read history
 *          (then a duplicate card is possible, and a warning says which scope is missing).
 */
export async function findPostedCard(slack: WebClient, log: Logger, approval: Approval, targets: CardTarget[]): Promise<CardLocation | undefined> {
  for (const target of targets) {
    const found = await findIn(slack, log, approval, target);
    if (found) return found;
  }
  return undefined;
}

/** A place a card may be: a channel, or a thread in it. */
export interface CardTarget {
  channel: string;
  threadTs?: string;
}

async function findIn(slack: WebClient, log: Logger, approval: Approval, { channel, threadTs }: CardTarget): Promise<CardLocation | undefined> {
  const oldest = (approval.createdAt / 1000 - SKEW_SEC).toFixed(6);
  let cursor: string | undefined;
  try {
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const common = { channel, oldest, limit: PAGE_SIZE, include_all_metadata: true, ...(cursor ? { cursor } : {}) };
      const response = threadTs
        ? await slack.conversations.replies({ ...common, ts: threadTs })
        : await slack.conversations.history(common);
      const match = (response.messages as MessageWithMetadata[] | undefined)?.find((message) => isCardOf(message, approval));
      if (match?.ts) return { channel, ts: match.ts };
      cursor = response.response_metadata?.next_cursor || undefined;
      if (!cursor) return undefined;
    }
    log.warn({ channel, pages: MAX_PAGES }, 'stopped looking for an earlier card after many pages of history');
    return undefined;
  } catch (err) {
    const fault = classifySlackError(err);
    // Only Slack refusing the history (a missing scope) means "post anyway"; a bug is not that.
    if (fault.kind !== 'permanent') throw err;
    log.warn(
      { channel, slack_error: fault.error },
      'could not read channel history to look for a card an earlier attempt may have posted (needs channels:history / groups:history); posting, which may duplicate it',
    );
    return undefined;
  }
}

function isCardOf(message: MessageWithMetadata, approval: Approval): boolean {
  const payload = message.metadata?.event_payload;
  return message.metadata?.event_type === CARD_EVENT_TYPE && payload?.approval_id === approval.id && payload?.card_id === approval.cardId;
}
