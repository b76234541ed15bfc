import type { RedisClient } from '../ops/redis-connection.js';

/**
 * The memory of every request the bot accepted from Slack, shared by all replicas, so that the same
 * request delivered again (a replay of its signed bytes, or a Socket Mode envelope sent twice) is
 * processed at most once.
 *
 * Key (P = STATE_PREFIX): P:seen:<request key>, where the request key is `sig:<signature hex>` over
 * HTTP and `env:<envelope id>` over Socket Mode.
 */

/**
 * How long an accepted request is remembered (s). A request is accepted while its timestamp is
 * within 5 minutes of the replica's clock either way, so the same bytes could be accepted for at
 * most 10 minutes after they first were; the extra minute covers replicas whose clocks differ.
 */
export const REMEMBER_SEC = 11 * 60;

/** The Redis key that remembers one request. */
export function seenKey(prefix: string, requestKey: string): string {
  return `${prefix}:seen:${requestKey}`;
}

export interface RequestMemory {
  /** @returns true when this is the first time the request is seen (it is remembered from now on), false for a repeat. */
  remember(requestKey: string): Promise<boolean>;
}

export function createRequestMemory(redis: RedisClient, prefix: string): RequestMemory {
  return {
    async remember(requestKey) {
      return (await redis.set(seenKey(prefix, requestKey), '1', 'EX', REMEMBER_SEC, 'NX')) === 'OK';
    },
  };
}
