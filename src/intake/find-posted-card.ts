import type { WebClient } from '@slack/web-api';
import type { Approval, CardLocation } from '../domain/approval.js';
import type { ApprovalRequest } from '../domain/contract.js';
import type { Route } from '../domain/routes.js';
import { CARD_EVENT_TYPE } from '../views/cards.js';
import type { Logger } from '../ops/logger.js';
import { classifySlackError } from '../ops/slack-errors.js';

/**
 * Finding an approval's cards in Slack by the message metadata every card carries
 * (`approval_card`, with the approval id and card id): the card an earlier, crashed or timed-out
 * attempt posted, and duplicates of the recorded card that landed after their attempt gave up.
 */

// How far back before the approval was created a card could carry an earlier timestamp (clock skew).
const SKEW_SEC = 120;
const PAGE_SIZE = 200;
const MAX_PAGES = 10;

/** A message as conversations.history/replies return it with `include_all_metadata`. */
export interface MessageWithMetadata {
  ts?: string;
  bot_id?: string;
  user?: string;
  metadata?: { event_type?: string; event_payload?: Record<string, unknown> };
}

/**
 * Who this bot is in Slack, as `auth.test` says at start-up: its bot id (`bot_id`, on every message
 * it posts) and its bot user id (`user_id`). Only a message it posted is taken for one of its cards:
 * anyone who can post in the channel (another app, a user) can post a message carrying the same
 * metadata, and the bot can update or delete none of those (`cant_update_message`).
 */
export interface BotIdentity {
  botId: string;
  userId: string;
}

/** A place a card may be: a channel, or a thread in it. */
export interface CardTarget {
  channel: string;
  threadTs?: string;
}

/** Where the card may go, in order: the channel the request names (or the route's), then the route's as a fallback. */
export function cardTargets(request: Pick<ApprovalRequest, 'channel' | 'thread_ts'>, route: Route): CardTarget[] {
  const primary = request.channel ?? route.channel;
  if (primary === undefined) return [];
  const targets: CardTarget[] = [{ channel: primary, ...(request.thread_ts ? { threadTs: request.thread_ts } : {}) }];
  if (route.fallback_to_route_channel && route.channel && route.channel !== primary) targets.push({ channel: route.channel });
  return targets;
}

/**
 * Looks in each place the card may be for the card an earlier attempt posted. This closes the
 * window between Slack's answer and the ts being saved, so a crash there does not leave a second card.
 *
 * @returns the card, or undefined when there is none, or when the app may not read history
 *          (then a duplicate card is possible, and a warning says which scope is missing).
 * @throws when Slack fails in a way worth retrying.
 */
export async function findPostedCard(slack: WebClient, own: BotIdentity, log: Logger, approval: Approval, targets: CardTarget[]): Promise<CardLocation | undefined> {
  for (const target of targets) {
    try {
      for await (const card of cardsIn(slack, own, log, approval, target)) {
        if (card.cardId === approval.cardId) return { channel: card.channel, ts: card.ts };
      }
    } catch (err) {
      unlessReadable(err, log, target, 'could not read channel history to look for a card an earlier attempt may have posted (needs channels:history / groups:history); posting, which may duplicate it');
    }
  }
  return undefined;
}

/**
 * Deletes every card of the approval's current card id but the one recorded: duplicates that
 * attempts which gave up (a timeout, a network error) posted after all, possibly long after.
 *
 * @returns how many were deleted.
 * @throws when Slack fails in a way worth retrying (what was deleted stays deleted).
 */
export async function removeDuplicateCards(slack: WebClient, own: BotIdentity, log: Logger, approval: Approval & { card: CardLocation }, targets: CardTarget[]): Promise<number> {
  const recorded = approval.card;
  let removed = 0;
  for (const target of targets) {
    const duplicates: CardLocation[] = [];
    try {
      for await (const card of cardsIn(slack, own, log, approval, target)) {
        if (card.cardId === approval.cardId && !(card.channel === recorded.channel && card.ts === recorded.ts)) duplicates.push(card);
      }
    } catch (err) {
      unlessReadable(err, log, target, 'could not read channel history to look for duplicate cards (needs channels:history / groups:history)');
    }
    for (const duplicate of duplicates) {
      try {
        await slack.chat.delete({ channel: duplicate.channel, ts: duplicate.ts });
        removed += 1;
        log.warn({ outcome: 'duplicate_removed', removed_ts: duplicate.ts, ...recorded }, 'removed a duplicate card that an attempt which gave up posted after all');
      } catch (err) {
        const fault = classifySlackError(err);
        if (fault.kind !== 'permanent') throw err;
        if (fault.error !== 'message_not_found') log.warn({ slack_error: fault.error, ...duplicate }, 'Slack will not delete a duplicate card; its buttons still decide this approval');
      }
    }
  }
  return removed;
}

/** Every card of the approval (any card id) this bot posted in one place, newest first, page by page. */
async function* cardsIn(slack: WebClient, own: BotIdentity, log: Logger, approval: Approval, { channel, threadTs }: CardTarget): AsyncGenerator<CardLocation & { cardId: string }> {
  const oldest = (approval.createdAt / 1000 - SKEW_SEC).toFixed(6);
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const common = { channel, oldest, limit: PAGE_SIZE, include_all_metadata: true, ...(cursor ? { cursor } : {}) };
    const response = threadTs ? await slack.conversations.replies({ ...common, ts: threadTs }) : await slack.conversations.history(common);
    for (const message of (response.messages as MessageWithMetadata[] | undefined) ?? []) {
      const payload = message.metadata?.event_payload;
      if (!postedBy(message, own)) continue;
      if (message.ts && message.metadata?.event_type === CARD_EVENT_TYPE && payload?.approval_id === approval.id && typeof payload.card_id === 'string') {
        yield { channel, ts: message.ts, cardId: payload.card_id };
      }
    }
    cursor = response.response_metadata?.next_cursor || undefined;
    if (!cursor) return;
  }
  log.warn({ channel, pages: MAX_PAGES }, 'stopped looking through the channel’s history after many pages');
}

/** Whether this bot posted the message: Slack puts the poster's bot id on a bot's messages, and its bot user id. */
export function postedBy(message: MessageWithMetadata, own: BotIdentity): boolean {
  return message.bot_id === own.botId && (message.user === undefined || message.user === own.userId);
}

/** A transient failure (or a bug: not Slack's) is thrown again; only Slack refusing means the app may not read there: warn and go on. */
function unlessReadable(err: unknown, log: Logger, { channel }: CardTarget, warning: string): void {
  const fault = classifySlackError(err);
  if (fault.kind !== 'permanent') throw err;
  log.warn({ channel, slack_error: fault.error }, warning);
}
