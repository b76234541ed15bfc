import type { ApprovalRecord, CardLocation, DroppedVote } from '../domain/approval.js';
import { matchRoute } from '../domain/routes.js';
import type { Logger } from '../ops/logger.js';
import { cardContext, type RenderedCard, renderApprovalCounted, renderCancelledCard, renderDecidedCard, renderRequestCard, renderSupersededCard } from '../views/cards.js';
import { renderDroppedReply, renderDroppedVotes } from '../views/replies.js';
import type { DecideDeps } from './deps.js';

/**
 * The approvals counted so far, on a pending N-of-M card. A progress update races the approval's
 * other card updates (the next vote's progress, the decided card written by the outbox): if Slack
 * is slow to carry it out, it could land last and show "1 of 2" with live buttons on a decided
 * approval. So once Slack has answered, the approval is read again, and if it has moved on (decided,
 * cancelled, other votes, a newer card) the card is updated again to show where it is now, until
 * what was shown last is still current. Any update sent after the state changed shows that state or
 * a later one, so the last one Slack applies is never older than the approval.
 */

// Each round follows a change of the approval; an approval changes only a few times (votes, then
// its ending, which is final), so this bounds the rounds without ever stopping short in practice.
const MAX_ROUNDS = 5;

type Rendered = Pick<RenderedCard, 'text' | 'blocks'>;
type DecideSlack = Pick<DecideDeps, 'slack' | 'store' | 'routes'>;

/**
 * Shows the approvals counted on the card, and says who approved in its thread ("@alice approved: 1 of 2");
 * both say which approvals counted before no longer stand, when some were dropped. Never throws:
 * a failed call is logged.
 */
export async function showProgress(deps: DecideDeps, record: ApprovalRecord, votes: ApprovalRecord['votes'], log: Logger, dropped: DroppedVote[] = []): Promise<void> {
  const { card } = record;
  if (!card) return;
  const note = dropped.length ? { note: renderDroppedVotes(dropped) } : {};
  const context = { ...cardContext(matchRoute(deps.routes, record.request), record, votes), ...note };
  const latest = votes.at(-1);
  await Promise.all([
    keepCardCurrent(deps, { ...record, card, votes }, renderRequestCard(record, context), log).catch((err: unknown) =>
      log.warn({ err: String(err) }, 'could not show the approvals counted on the card'),
    ),
    latest &&
      deps.slack.chat
        .postMessage({
          channel: card.channel,
          thread_ts: card.ts,
          text: [renderApprovalCounted(latest, votes.length, context.requiredApprovals), ...(dropped.length ? [renderDroppedReply(dropped)] : [])].join('\n'),
        })
        .catch((err: unknown) => log.warn({ err: String(err) }, 'could not say in the thread who approved')),
  ]);
}

/**
 * Updates `shown`'s card with `rendered`, then, while the approval as stored has moved on from
 * `shown`, with its current rendering.
 * @throws when Redis cannot be read back (the update itself was sent).
 */
async function keepCardCurrent(deps: DecideSlack, shown: ApprovalRecord & { card: CardLocation }, rendered: Rendered, log: Logger): Promise<void> {
  const card = shown.card;
  let state: ApprovalRecord = shown;
  let next: Rendered | undefined = rendered;
  for (let round = 0; next && round < MAX_ROUNDS; round += 1) {
    await deps.slack.chat
      .update({ channel: card.channel, ts: card.ts, text: next.text, blocks: next.blocks })
      .catch((err: unknown) => log.warn({ err: String(err), round }, 'card update failed'));
    // A card replaced by a newer one is superseded for good: what its approval does next is the new card's.
    if (state.cardId !== shown.cardId) return;
    const now = await deps.store.load(shown.id);
    if (!now) return;
    next = currentRendering(deps, state, now);
    if (next) log.info({ round, ...card }, 'the approval moved on while the card was updated; showing it as it is now');
    state = now;
  }
}

/** How the card that `shown` rendered looks now, if that differs from what it showed; undefined if it does not. */
function currentRendering(deps: DecideSlack, shown: ApprovalRecord, now: ApprovalRecord): Rendered | undefined {
  // Before the newer card is posted there is nothing to point to; the request that replaces it marks this card then.
  if (now.cardId !== shown.cardId) return now.card ? renderSupersededCard(shown, now.card) : undefined;
  if (now.decision) return shown.decision ? undefined : renderDecidedCard(now, now.decision);
  if (now.cancelled) return shown.cancelled ? undefined : renderCancelledCard(now, now.cancelled);
  const same = now.votes.length === shown.votes.length && now.votes.every((vote, i) => vote.id === shown.votes[i]?.id);
  return same ? undefined : renderRequestCard(now, cardContext(matchRoute(deps.routes, now.request), now, now.votes));
}
