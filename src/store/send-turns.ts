import { setTimeout as delay } from 'node:timers/promises';
import type { RedisClient } from '../ops/redis-connection.js';
import type { Logger } from '../ops/logger.js';
import type { Pace } from '../ops/slack-pace.js';
import { classifySlackError } from '../ops/slack-errors.js';
import { DROP_TURN, HOLD, TAKE_TURN } from './send-turns-scripts.js';
import { defineScripts } from './store.js';
import type { EnqueueOrder } from '../domain/enqueue-order.js';

/**
 * Turns to call Slack, shared by every replica through Redis: each caller in a scope (a channel, the
 * workspace) gets a slot at the scope's pace, in the order the turns were taken, and a 429 holds the
 * whole scope for its Retry-After. A turn is leased: a caller that neither calls at its slot nor comes
 * back for it within `renewMs` (+ a grace) loses it, and the turns after it move up, so a caller
 * that dies or forgets its turn holds nobody up beyond that. See send-turns-scripts.ts for the keys.
 */
export interface SendTurns {
  /**
   * Takes the caller's turn in the pace's scope, or finds the one it already has (moved back by
   * any hold since it was taken or by an earlier-enqueued request that took its place, moved up when
   * turns before it were reclaimed), and renews its lease. A caller told to wait must take its turn
   * again when the wait is over and call only when told 0: its turn may have moved back meanwhile.
   * @param caller a stable id for the caller, e.g. the job id: the same caller keeps its place.
   * @param maxWaitMs the longest the caller will wait for its turn in process (ms): a turn within it
   *   is leased until its slot (+ grace); a later one for {@link SendTurns.renewMs} (+ grace), by which
   *   the caller must take it again, or lose it.
   * @param order the caller's enqueue order, for a request's card: a new turn goes before the turns
   *   still to come of requests enqueued after it. Without one, a new turn goes after every turn taken.
   * @returns how long (ms) the caller must wait before its call; 0 when it may call now.
   */
  take(pace: Pace, caller: string, maxWaitMs: number, order?: EnqueueOrder): Promise<number>;
  /**
   * Holds the scope for `retryAfterMs` (Slack's Retry-After, ms) from now, for every caller.
   * @returns how much (ms) this call lengthened the hold: 0 when another caller had already held it as long.
   */
  hold(pace: Pace, retryAfterMs: number): Promise<number>;
  /** Gives up the caller's turn: its call went through, or it will come back for reasons of its own. */
  drop(pace: Pace, caller: string): Promise<void>;
  /** How often (ms) a caller whose turn is further off than it waits in process must take it again to keep it. */
  readonly renewMs: number;
}

// Turns and scopes outlive their last slot by this much (ms), so that idle channels leave nothing behind.
const KEEP_MS = 10 * 60_000;

/** How long turns are kept without their caller; the defaults suit the bot, tests shorten them. */
export interface TurnLeases {
  /** A caller whose turn is further off than it waits in process comes back at least this often (ms). @defaultValue 10000 */
  renewMs?: number;
  /**
   * How late (ms) past its slot or its renewal a caller may be before its turn is reclaimed: covers a
   * delayed job brought back late by a busy worker. @defaultValue 2000
   */
  graceMs?: number;
}

/** Send turns under `<prefix>:pace:<scope>`, `<prefix>:turns:<scope>`, `<prefix>:leases:<scope>` and `<prefix>:order:<scope>`. */
export function createSendTurns(redis: RedisClient, options: { prefix: string } & TurnLeases): SendTurns {
  const run = defineScripts(redis, { TAKE_TURN, HOLD, DROP_TURN });
  const renewMs = options.renewMs ?? 10_000;
  const graceMs = options.graceMs ?? 2000;
  const keysOf = (pace: Pace) => ['pace', 'turns', 'leases', 'order'].map((kind) => `${options.prefix}:${kind}:${pace.scope}`);
  return {
    renewMs,
    async take(pace, caller, maxWaitMs, order) {
      const args = [pace.intervalMs, KEEP_MS, pace.burst, Math.max(0, Math.round(maxWaitMs)), renewMs, graceMs].map(String);
      const [slot, now] = (await run.TAKE_TURN(keysOf(pace), [...args, caller, order ?? ''])) as [number, number];
      return Math.max(0, slot - now);
    },
    async hold(pace, retryAfterMs) {
      const args = [Math.max(0, Math.round(retryAfterMs)), KEEP_MS, renewMs + graceMs, pace.intervalMs].map(String);
      const [, grew] = (await run.HOLD(keysOf(pace), args)) as [number, number];
      return grew;
    },
    async drop(pace, caller) {
      await run.DROP_TURN(keysOf(pace), [caller]);
    },
  };
}

// Slack always sends Retry-After with a 429; if a proxy drops it, hold the scope this long (ms).
const DEFAULT_RETRY_AFTER_MS = 2000;

/**
 * The caller's turn is further off than it may wait for in process: it keeps the turn, to come back
 * for it within the turns' renewMs (or lose it and take a new one at the back).
 */
export class TurnLaterError extends Error {
  /** @param waitMs how long (ms) until the turn. */
  constructor(
    readonly scope: string,
    readonly waitMs: number,
  ) {
    super(`${scope} is paced: this call's turn is in ${Math.ceil(waitMs / 1000)} s`);
    this.name = 'TurnLaterError';
  }
}

/**
 * Makes one Slack call in its turn: waits for the turn in process (up to `maxWaitMs`, taking it again
 * after each wait, until it has come), calls, and
 * on a 429 holds the scope for every replica (logged once per hold) and keeps the caller's turn;
 * otherwise gives the turn up. A turn that cannot be given up (Redis failed) is only warned of:
 * the call's outcome stands, and the turn's lease ends on its own (its slot + a grace).
 * @throws TurnLaterError when the turn is more than `maxWaitMs` (ms) away, or the call's own error.
 */
export async function callInTurn<T>(turns: SendTurns, pace: Pace, caller: string, options: { maxWaitMs: number; log: Logger }, call: () => Promise<T>): Promise<T> {
  for (let waitMs = await turns.take(pace, caller, options.maxWaitMs); waitMs > 0; waitMs = await turns.take(pace, caller, options.maxWaitMs)) {
    if (waitMs > options.maxWaitMs) throw new TurnLaterError(pace.scope, waitMs);
    await delay(waitMs);
  }
  let result: T;
  try {
    result = await call();
  } catch (err) {
    const fault = classifySlackError(err);
    if (fault.kind === 'transient' && fault.rateLimited) await holdForRateLimit(turns, pace, fault.retryAfterMs, options.log);
    else await dropTurn(turns, pace, caller, options.log);
    throw err;
  }
  // The call went through: a failure to give up its turn must not make it count as failed (and be made again).
  await dropTurn(turns, pace, caller, options.log);
  return result;
}

/**
 * Gives up the caller's turn once its call is made; a failure (Redis) is only warned of, since the
 * call's outcome stands and the turn's lease ends it (its slot + a grace).
 */
export async function dropTurn(turns: SendTurns, pace: Pace, caller: string, log: Logger): Promise<void> {
  await turns.drop(pace, caller).catch((err: unknown) => log.warn({ scope: pace.scope, caller, err: String(err) }, 'could not give up a send turn; its lease ends it'));
}

/**
 * Slack answered 429 in the pace's scope: holds the scope for every replica until its Retry-After
 * (ms; a default when Slack gave none) has passed, logging it once per hold (by the call that
 * lengthened it), not once per caller.
 */
export async function holdForRateLimit(turns: SendTurns, pace: Pace, retryAfterMs: number | undefined, log: Logger): Promise<void> {
  const holdMs = retryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
  const grew = await turns.hold(pace, holdMs);
  if (grew > 0) log.info({ scope: pace.scope, retry_after_ms: holdMs }, `Slack rate limited ${pace.scope}: holding it for ${Math.ceil(holdMs / 1000)} s`);
  else log.debug({ scope: pace.scope, retry_after_ms: holdMs }, 'rate limited within a hold already in force');
}
