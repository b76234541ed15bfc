import type { WebClient } from '@slack/web-api';
import type { CardLocation } from '../domain/approval.js';
import { ESCALATION_EVENT_TYPE } from '../views/cards.js';
import { postedBy, type BotIdentity, type MessageWithMetadata } from './find-posted-card.js';

// A card's thread holds its reminders, its escalation and people's replies: a few pages at most.
const PAGE_SIZE = 200;
const MAX_PAGES = 5;

/**
 * Whether this bot already posted the escalation of this approval's card in the card's thread: an
 * earlier attempt whose post Slack carried out but answered with an error (a 5xx, a timeout).
 * Only the bot's own messages count, by the metadata every escalation carries
 * (`approval_escalation`, with the approval id and card id).
 * @throws Slack's error when the thread cannot be read (needs channels:history / groups:history).
 */
export async function findEscalation(slack: WebClient, own: BotIdentity, ids: { approvalId: string; cardId: string }, card: CardLocation): Promise<boolean> {
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const response = await slack.conversations.replies({ channel: card.channel, ts: card.ts, limit: PAGE_SIZE, include_all_metadata: true, ...(cursor ? { cursor } : {}) });
    for (const message of (response.messages as MessageWithMetadata[] | undefined) ?? []) {
      const payload = message.metadata?.event_payload;
      if (postedBy(message, own) && message.metadata?.event_type === ESCALATION_EVENT_TYPE && payload?.approval_id === ids.approvalId && payload.card_id === ids.cardId) return true;
    }
    cursor = response.response_metadata?.next_cursor || undefined;
    if (!cursor) return false;
  }
  return false;
}
