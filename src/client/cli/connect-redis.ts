import { Redis } from 'ioredis';
import { redactRedisUrl } from '../../ops/redis-settings.js';

const CONNECT_TIMEOUT_MS = 5_000;

/**
 * Connects to Redis for a one-shot command, without retrying: a Redis that cannot be reached (or a
 * URL that is not one) is a one-line error, not ioredis's stack.
 * @throws Error whose message says what failed, where (the URL without its password) and what to do.
 */
export async function connectRedis(url: string): Promise<Redis> {
  const shown = redactRedisUrl(url);
  let redis: Redis;
  try {
    redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null, connectTimeout: CONNECT_TIMEOUT_MS });
  } catch (err) {
    throw new Error(`REDIS_URL is not a valid Redis URL (${shown}): ${(err as Error).message}`, { cause: err });
  }
  // The cause comes as an 'error' event (connect() then only says the connection closed); ioredis
  // would print every such event with its stack when nothing listens.
  let cause: Error | undefined;
  redis.on('error', (err: Error) => (cause ??= err));
  try {
    await redis.connect();
    return redis;
  } catch (err) {
    redis.disconnect();
    throw new Error(`cannot reach Redis at ${shown} (${(cause ?? (err as Error)).message}): start redis-server or set REDIS_URL`, { cause: err });
  }
}
