import { z } from 'zod';
import type { Logger } from '../ops/logger.js';
import { withTimeout } from '../ops/with-timeout.js';
import type { Acceptance, ClaimedEntry, Inbox } from '../store/inbox.js';
import { NOT_ACCEPTED_REPLY, UNCERTAIN_REPLY } from '../views/replies.js';
import { createResponder, type Respond } from './respond.js';

/**
 * No acknowledged click is lost. Before an Approve/Deny click is acknowledged it is appended to the
 * inbox (a Redis stream), pending for this process; after the acknowledgement this process confirms
 * it, processes it and removes it. Every process also claims entries left idle for a few seconds by
 * any process (one that died, or stalled) and handles them, replying through the click's
 * response_url since no acknowledgement is owed any more:
 * - an entry never confirmed is discarded, never decided, and the clicker is told so: its process
 *   told them "nothing was decided" already (the append did not answer in time, and landed after
 *   Redis stalled) or died between the acknowledgement and the confirmation;
 * - a confirmed entry is processed again: recording is first-writer-wins, so a click processed
 *   twice records at most once;
 * - an answered entry (its process decided what to tell the clicker, then stopped) gets that answer
 *   sent again, and is not processed again.
 * Every answer to the clicker is recorded in the inbox before it is sent, by the delivery that holds
 * the entry only: a reviewer told "nothing was decided" is never contradicted by a later delivery.
 */

// An entry pending this long (ms) without a renewal is taken to be abandoned.
const MIN_IDLE_MS = 5000;
const CLAIM_INTERVAL_MS = 1000;
const CLAIM_BATCH = 20;
// Renewals keep an entry being processed from looking abandoned (well under MIN_IDLE_MS).
const RENEW_INTERVAL_MS = 1500;
// After the acknowledgement, no deadline of Slack's applies: an inbox write that does not answer
// within this long (ms) leaves the entry to a drain, which finds what landed.
const INBOX_WRITE_TIMEOUT_MS = 10_000;
// An entry that failed this many deliveries is answered with an uncertain outcome and dropped.
const MAX_DELIVERIES = 5;
const FORGET_CONSUMERS_EVERY_MS = 60_000;
const CONSUMER_IDLE_MS = 10 * 60_000;

/** A click as the inbox keeps it: what processing it needs, taken from Slack's verified payload. */
export const InboxClickSchema = z.object({
  action: z.enum(['approve', 'deny']),
  user_id: z.string().min(1),
  team_id: z.string().min(1).optional(),
  /** The button's value: which card was clicked (checked against the approval when processed). */
  value: z.string().optional(),
  response_url: z.url(),
  trigger_id: z.string(),
  /** When the bot received it (ms). */
  received_at: z.coerce.number().int(),
});
export type InboxClick = z.infer<typeof InboxClickSchema>;

/** How a click reaches processing: first by its listener, or again from the inbox (after a crash or a stall). */
export interface Delivery {
  entryId: string;
  redelivered: boolean;
  /**
   * The first delivery's confirmation, sent alongside the click's first reads: processing may read
   * before it resolves, but must neither write nor answer until it resolves true (false: do nothing,
   * the inbox's drain discards the entry and tells the clicker). Absent: confirmed already.
   */
  confirmed?: Promise<boolean>;
}

export interface ClickInboxDeps {
  inbox: Inbox;
  /**
   * Processes one click (the same function for the listener and the drain). Its ephemeral replies
   * through `respond` are its answer to the clicker: recorded in the inbox before they are sent.
   * Throws only on faults worth another delivery.
   */
  process(click: InboxClick, respond: Respond, delivery: Delivery): Promise<void>;
  log: Logger;
}

export interface ClickInbox {
  /** Remembers the request and appends the click, unless the request was accepted before. */
  accept(requestKey: string, click: InboxClick): Promise<Acceptance>;
  /** After the acknowledgement: confirms the entry, processes the click, removes the entry. Never throws. */
  run(entryId: string, click: InboxClick): Promise<void>;
  /** Stops claiming entries and waits for the clicks being processed. */
  close(): Promise<void>;
}

/** The click inbox of this process, with its drain running until closed. */
export function createClickInbox(deps: ClickInboxDeps): ClickInbox {
  const { inbox } = deps;
  const inFlight = new Set<Promise<void>>();
  const track = (work: Promise<void>) => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
    return work;
  };
  const write = <T>(call: Promise<T>) => withTimeout(call, INBOX_WRITE_TIMEOUT_MS, `Redis did not answer within ${INBOX_WRITE_TIMEOUT_MS} ms`);

  /**
   * One delivery of a confirmed entry: processed with the entry kept fresh; its answer recorded
   * before it is sent; removed once done. Left in the inbox when a fault or an unrecorded answer
   * makes another delivery necessary, or when another delivery took it over (that one finishes it).
   */
  const processEntry = async (entryId: string, delivery: number, click: InboxClick, confirmed?: Promise<boolean>) => {
    const log = deps.log.child({ entry_id: entryId, delivery, user: click.user_id, action: click.action });
    // Handed over: another delivery holds the entry (or will, if an answer could not be recorded) and
    // finishes it. Unsent: an answer is recorded but did not reach Slack; a later delivery sends it again.
    let handedOver = false;
    let unsent = false;
    const send = createResponder(click.response_url);
    const respond: Respond = async (message) => {
      // A card shown through the response_url (the outbox's fallback) is not an answer.
      if (message.replace_original === true) return send(message);
      const held = await write(inbox.answer(entryId, delivery, message.text)).catch((err: unknown) => {
        log.warn({ err: String(err) }, 'answer not recorded; a later delivery of this click answers');
        return false;
      });
      if (!held) {
        handedOver = true;
        return;
      }
      await send(message).catch((err: unknown) => {
        unsent = true;
        throw err;
      });
    };
    const renewal = setInterval(() => {
      inbox.renew(entryId, delivery).then(
        (held) => {
          if (held) return;
          handedOver = true;
          log.warn('another process took this click over (this one stalled); it answers');
        },
        (err: unknown) => log.warn({ err: String(err) }, 'could not renew the click in the inbox'),
      );
    }, RENEW_INTERVAL_MS);
    try {
      await deps.process(click, respond, { entryId, redelivered: delivery > 1, ...(confirmed ? { confirmed } : {}) });
    } catch (err) {
      log.error({ err: String(err) }, 'click not processed; it will be delivered again from the inbox');
      return;
    } finally {
      clearInterval(renewal);
    }
    // Not confirmed: nothing was done; the drain discards the entry.
    if (handedOver || unsent || (confirmed && !(await confirmed))) return;
    await write(inbox.finish(entryId, delivery)).catch((err: unknown) => log.warn({ err: String(err) }, 'click handled but still in the inbox; a later delivery finds it done'));
  };

  const run: ClickInbox['run'] = (entryId, click) =>
    track(
      (async () => {
        // Not awaited here: the click's first reads go out alongside it (see Delivery.confirmed).
        const confirmed = write(inbox.confirm(entryId)).catch((err: unknown) => {
          deps.log.warn({ entry_id: entryId, err: String(err) }, 'click acknowledged but not confirmed; the inbox drain settles it');
          return false;
        });
        await processEntry(entryId, 1, click, confirmed);
      })(),
    );

  /** A new delivery of an entry another process (or this one, stalled) left. */
  const recover = async (entry: ClaimedEntry) => {
    const parsed = InboxClickSchema.safeParse(entry.fields);
    const log = deps.log.child({ entry_id: entry.id, delivery: entry.delivery });
    const finish = () => inbox.finish(entry.id, entry.delivery);
    if (!parsed.success) {
      log.error({ problems: parsed.error.issues.map((issue) => issue.message) }, 'dropping an inbox entry that is not a click');
      return finish();
    }
    const click = parsed.data;
    // A reply Slack refuses is tried again with the next deliveries, then given up.
    const tell = (text: string) =>
      createResponder(click.response_url)({ response_type: 'ephemeral', replace_original: false, text }).catch((err: unknown) => {
        if (entry.delivery <= MAX_DELIVERIES) throw err;
        log.warn({ err: String(err) }, 'could not tell the clicker; giving up');
      });
    switch (entry.state.kind) {
      case 'unconfirmed':
        log.warn({ user: click.user_id, outcome: 'discarded' }, 'click never confirmed by the process that accepted it: nothing decided');
        await tell(NOT_ACCEPTED_REPLY);
        return finish();
      case 'answered':
        log.info({ user: click.user_id }, 'sending the answer a stopped process decided on');
        await tell(entry.state.answer);
        return finish();
      case 'confirmed':
        if (entry.delivery > MAX_DELIVERIES) {
          log.error({ user: click.user_id, outcome: 'uncertain' }, 'click failed every delivery; giving up');
          await tell(UNCERTAIN_REPLY);
          return finish();
        }
        log.info({ user: click.user_id }, 'processing a click another process left unfinished');
        return processEntry(entry.id, entry.delivery, click);
    }
  };
  let claiming: Promise<void> | undefined;
  let lastForget = 0;
  const tick = () => {
    if (claiming) return;
    claiming = track(
      (async () => {
        const entries = await inbox.claimIdle(MIN_IDLE_MS, CLAIM_BATCH);
        await Promise.all(entries.map((entry) => recover(entry).catch((err: unknown) => deps.log.warn({ entry_id: entry.id, err: String(err) }, 'could not handle an inbox entry yet'))));
        if (Date.now() - lastForget > FORGET_CONSUMERS_EVERY_MS) {
          lastForget = Date.now();
          await inbox.forgetIdleConsumers(CONSUMER_IDLE_MS);
        }
      })()
        .catch((err: unknown) => deps.log.warn({ err: String(err) }, 'inbox drain failed; will try again'))
        .finally(() => (claiming = undefined)),
    );
  };
  const timer = setInterval(tick, CLAIM_INTERVAL_MS);

  return {
    accept: (requestKey, click) => inbox.accept(requestKey, toFields(click)),
    run,
    async close() {
      clearInterval(timer);
      await Promise.allSettled([...inFlight]);
    },
  };
}

function toFields(click: InboxClick): Record<string, string> {
  return Object.fromEntries(Object.entries(click).flatMap(([field, value]) => (value === undefined ? [] : [[field, String(value)]])));
}
