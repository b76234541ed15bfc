import type { Redis } from 'ioredis';
import type { Pace } from '../ops/slack-pace.js';
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
export function createSendTurns(redis: Redis, options: { prefix: string }): SendTurns {
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
