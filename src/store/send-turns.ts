import { setTimeout as delay } from 'node:timers/promises';
import type { RedisClient } from '../ops/redis-connection.js';
import type { Logger } from '../ops/logger.js';
import type { Pace } from '../ops/slack-pace.js';
import { classifySlackError } from '../ops/slack-errors.js';
import { DROP_TURN, HOLD, TAKE_TURN } from './send-turns-scripts.js';
import { defineScripts } from './store.js';

/**
 * Turns to call Slack, shared by every replica through Redis: each caller in a scope (a channel, the
 * workspace) gets a slot at the scope's pace, in the order the turns were taken, and a 429 holds the
 * whole scope for its Retry-After. See send-turns-scripts.ts for the keys.
 */
export interface SendTurns {
  /**
   * Takes the caller's turn in the pace's scope, or finds the one it already has (moved back by
   * any hold since it was taken).
   * @param caller a stable id for the caller, e.g. the job id: the same caller keeps its place.
   * @returns how long (ms) the caller must wait before its call; 0 when it may call now.
   */
  take(pace: Pace, caller: string): Promise<number>;
  /**
   * Holds the scope for `retryAfterMs` (Slack's Retry-After, ms) from now, for every caller.
   * @returns how much (ms) this call lengthened the hold: 0 when another caller had already held it as long.
   */
  hold(pace: Pace, retryAfterMs: number): Promise<number>;
  /** Gives up the caller's turn: its call went through, or it will come back for reasons of its own. */
  drop(pace: Pace, caller: string): Promise<void>;
}

// Turns and scopes outlive their last slot by this much (ms): long enough for a caller delayed to its
// turn to come back and find it, short enough that idle channels leave nothing behind.
const KEEP_MS = 10 * 60_000;

/** Send turns under `<prefix>:pace:<scope>` and `<prefix>:turn:<scope>:<caller>`. */
export function createSendTurns(redis: RedisClient, options: { prefix: string }): SendTurns {
  const run = defineScripts(redis, { TAKE_TURN, HOLD, DROP_TURN });
  const scopeKey = (pace: Pace) => `${options.prefix}:pace:${pace.scope}`;
  const turnKey = (pace: Pace, caller: string) => `${options.prefix}:turn:${pace.scope}:${caller}`;
  return {
    async take(pace, caller) {
      const [slot, now] = (await run.TAKE_TURN([scopeKey(pace), turnKey(pace, caller)], [String(pace.intervalMs), String(KEEP_MS), String(pace.burst)])) as [number, number];
      return Math.max(0, slot - now);
    },
    async hold(pace, retryAfterMs) {
      const [, grew] = (await run.HOLD([scopeKey(pace)], [String(Math.max(0, Math.round(retryAfterMs))), String(KEEP_MS)])) as [number, number];
      return grew;
    },
    async drop(pace, caller) {
      await run.DROP_TURN([turnKey(pace, caller)], []);
    },
  };
}

// Slack always sends Retry-After with a 429; if a proxy drops it, hold the scope this long (ms).
const DEFAULT_RETRY_AFTER_MS = 2000;

/** The caller's turn is further off than it may wait for in process: it keeps the turn, to come back for it. */
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
 * Makes one Slack call in its turn: waits for the turn in process (up to `maxWaitMs`), calls, and
 * on a 429 holds the scope for every replica (logged once per hold) and keeps the caller's turn;
 * otherwise gives the turn up.
 * @throws TurnLaterError when the turn is more than `maxWaitMs` (ms) away, or the call's own error.
 */
export async function callInTurn<T>(turns: SendTurns, pace: Pace, caller: string, options: { maxWaitMs: number; log: Logger }, call: () => Promise<T>): Promise<T> {
  const waitMs = await turns.take(pace, caller);
  if (waitMs > options.maxWaitMs) throw new TurnLaterError(pace.scope, waitMs);
  if (waitMs > 0) await delay(waitMs);
  try {
    const result = await call();
    await turns.drop(pace, caller);
    return result;
  } catch (err) {
    const fault = classifySlackError(err);
    if (fault.kind === 'transient' && fault.rateLimited) await holdForRateLimit(turns, pace, fault.retryAfterMs, options.log);
    else await turns.drop(pace, caller);
    throw err;
  }
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
