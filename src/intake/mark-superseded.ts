import type { CardLocation } from '../domain/approval.js';
import { UPDATE_PACE } from '../ops/slack-pace.js';
import { callInTurn } from '../store/send-turns.js';
import { renderSupersededCard } from '../views/cards.js';
import type { Logger } from '../ops/logger.js';
import { classifySlackError } from '../ops/slack-errors.js';
import type { SupersededCard } from '../store/store.js';
import type { IntakeDeps } from './deps.js';

// Marking a replaced card superseded waits this long (ms) at most for a chat.update turn; past it,
// the card stays as it is (its buttons decide nothing) and a later delivery of the request marks it.
const MAX_UPDATE_WAIT_MS = 10_000;

/**
 * Marks a replaced request's card as superseded, pointing to the new one; its buttons already decide
 * nothing. Until this is done the approval remembers the old card, so a delivery of the request after
 * a crash does it.
 */
export async function markSuperseded(deps: IntakeDeps, log: Logger, old: SupersededCard, newer: CardLocation): Promise<void> {
  try {
    await callInTurn(deps.turns, UPDATE_PACE, `supersede:${old.approval.id}`, { maxWaitMs: MAX_UPDATE_WAIT_MS, log }, () =>
      deps.slack.chat.update({ channel: old.card.channel, ts: old.card.ts, ...renderSupersededCard(old.approval, newer) }),
    );
    log.info({ outcome: 'superseded', old_ts: old.card.ts, ...newer }, 'older card marked superseded');
  } catch (err) {
    if (classifySlackError(err).kind !== 'permanent') {
      log.warn({ err: String(err), ...old.card }, 'could not mark the older card superseded yet; clicks on it still decide nothing');
      return;
    }
    log.warn({ err: String(err), ...old.card }, 'Slack will not update the older card (deleted?); clicks on it still decide nothing');
  }
  await deps.store.clearSuperseded(old.approval.id, old.approval.cardId);
}
