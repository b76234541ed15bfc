import type { RedisClient } from '../ops/redis-connection.js';
import { ACCEPT_CLICK, ANSWER_CLICK, CLAIM_IDLE_CLICKS, CONFIRM_CLICK, FINISH_CLICK, FORGET_IDLE_CONSUMERS, RENEW_CLICK } from './inbox-scripts.js';
import { REMEMBER_SEC, seenKey } from './request-memory.js';
import { defineScripts } from './store.js';

/**
 * The click inbox: every Approve/Deny click is made durable here before Slack gets its
 * acknowledgement, so that a click acknowledged by a process that then dies is still processed by
 * another. A Redis stream read through one consumer group, one consumer per bot process.
 *
 * An entry is handed out in deliveries: the first to the process that accepted it, the next ones to
 * whoever claims it after it was left idle. Only the delivery holding an entry may confirm (the
 * first only), answer or finish it, so a process that stalled and lost its entry cannot contradict
 * the one that took it over.
 *
 * Keys (P = STATE_PREFIX):
 *   P:inbox        stream of accepted clicks; group `clicks`; an entry is pending for the process
 *                  that accepted it from the moment it is appended, and deleted once finished
 *   P:inbox:state  hash: entry id → `confirmed` once the process that accepted it acknowledged it to
 *                  Slack (an entry never confirmed is discarded, never decided), then
 *                  `answer:<text>` once a delivery decided what to tell the clicker (the click is
 *                  not processed again; a later delivery only sends the answer again)
 *   P:seen:<key>   the request's memory (see request-memory.ts), set in the same step as the append
 */

const GROUP = 'clicks';

/** A click as stored: field → value. */
export type InboxFields = Record<string, string>;

/** An entry handed to this process: which delivery of it, and how far its handling got. */
export interface ClaimedEntry {
  id: string;
  fields: InboxFields;
  /** The delivery count: this delivery's number. */
  delivery: number;
  /** `unconfirmed`: its process never acknowledged it in time; `confirmed`: to process; `answered`: to tell `answer` again. */
  state: { kind: 'unconfirmed' } | { kind: 'confirmed' } | { kind: 'answered'; answer: string };
}

export type Acceptance = { kind: 'accepted'; id: string } | { kind: 'replayed' };

export interface Inbox {
  /** This process's consumer name. */
  consumer: string;
  /** Remembers the request and appends the click (delivery 1, to this consumer), unless the request was accepted before. */
  accept(requestKey: string, fields: InboxFields): Promise<Acceptance>;
  /** @returns false when the entry is no longer in its first delivery here (a drain claimed it): then leave it alone. */
  confirm(id: string): Promise<boolean>;
  /** Resets the idle time of an entry this delivery is processing. @returns false when another delivery took it over. */
  renew(id: string, delivery: number): Promise<boolean>;
  /** Records the answer this delivery is about to send. @returns false when another delivery took it over: say nothing. */
  answer(id: string, delivery: number, text: string): Promise<boolean>;
  /** The entry is done: it leaves the inbox. @returns false when another delivery took it over. */
  finish(id: string, delivery: number): Promise<boolean>;
  /** Claims (a new delivery of) up to `count` entries pending for longer than `minIdleMs` (ms) on any consumer. */
  claimIdle(minIdleMs: number, count: number): Promise<ClaimedEntry[]>;
  /** Removes consumers with nothing pending, idle longer than `idleMs` (ms): processes that ended. */
  forgetIdleConsumers(idleMs: number): Promise<number>;
}

export function createInbox(redis: RedisClient, options: { prefix: string; consumer: string }): Inbox {
  const stream = `${options.prefix}:inbox`;
  const state = `${options.prefix}:inbox:state`;
  const { consumer } = options;
  const run = defineScripts(redis, { ACCEPT_CLICK, CONFIRM_CLICK, RENEW_CLICK, ANSWER_CLICK, FINISH_CLICK, CLAIM_IDLE_CLICKS, FORGET_IDLE_CONSUMERS });
  return {
    consumer,
    async accept(requestKey, fields) {
      const reply = (await run.ACCEPT_CLICK([stream, seenKey(options.prefix, requestKey)], [String(REMEMBER_SEC), GROUP, consumer, JSON.stringify(Object.entries(fields).flat())])) as string[];
      return reply[0] === 'accepted' ? { kind: 'accepted', id: reply[1]! } : { kind: 'replayed' };
    },
    async confirm(id) {
      return (await run.CONFIRM_CLICK([stream, state], [GROUP, consumer, id])) === 1;
    },
    async renew(id, delivery) {
      return (await run.RENEW_CLICK([stream], [GROUP, consumer, id, String(delivery)])) === 1;
    },
    async answer(id, delivery, text) {
      return (await run.ANSWER_CLICK([stream, state], [GROUP, consumer, id, String(delivery), text])) === 1;
    },
    async finish(id, delivery) {
      return (await run.FINISH_CLICK([stream, state], [GROUP, consumer, id, String(delivery)])) === 1;
    },
    async claimIdle(minIdleMs, count) {
      const reply = (await run.CLAIM_IDLE_CLICKS([stream, state], [GROUP, consumer, String(minIdleMs), String(count)])) as [string, string[], number, string][];
      return reply.map(([id, flat, delivery, raw]) => ({ id, fields: toFields(flat), delivery: Number(delivery), state: toState(raw) }));
    },
    async forgetIdleConsumers(idleMs) {
      return Number(await run.FORGET_IDLE_CONSUMERS([stream], [GROUP, String(idleMs), consumer]));
    },
  };
}

function toState(raw: string): ClaimedEntry['state'] {
  if (raw === 'confirmed') return { kind: 'confirmed' };
  if (raw.startsWith('answer:')) return { kind: 'answered', answer: raw.slice('answer:'.length) };
  return { kind: 'unconfirmed' };
}

function toFields(flat: string[]): InboxFields {
  const fields: InboxFields = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return fields;
}
