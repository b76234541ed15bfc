import type { RedisTarget } from '../../ops/config.js';
import { createRedis, describeRedisTarget, type RedisClient } from '../../ops/redis-connection.js';
import { redactRedisUrl } from '../../ops/redis-settings.js';

// How long (ms) the TCP connection, and then Redis's first answer (the ready check), may take.
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * How long (ms) one command may go unanswered: a Redis that accepts connections but never answers
 * (a stopped or hung process) would otherwise hold a one-shot command, and the CI step behind it,
 * forever. It bounds each command, never a wait for a decision, which is many commands.
 */
const COMMAND_TIMEOUT_MS = 5_000;

/**
 * Connects to the gate's Redis (a server, the primary Sentinel names, or a cluster) for a one-shot
 * command, without retrying: a Redis that cannot be reached, that does not answer within
 * {@link CONNECT_TIMEOUT_MS} (ms), or a URL that is not one, is a one-line error, not ioredis's
 * stack. Each command on the connection fails after {@link COMMAND_TIMEOUT_MS} (ms).
 * @throws Error whose message says what failed, where (the URL without its password, the Sentinels or the cluster's nodes) and what to do.
 */
export async function connectRedis(target: RedisTarget): Promise<RedisClient> {
  const shown = describeRedisTarget(target, redactRedisUrl);
  let redis: RedisClient;
  try {
    redis = createRedis(target, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      lazyConnect: true,
      retryStrategy: () => null,
      sentinelRetryStrategy: () => null,
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: COMMAND_TIMEOUT_MS,
    });
  } catch (err) {
    throw new Error(`REDIS_URL is not a valid Redis URL (${redactRedisUrl(target.url)}): ${(err as Error).message}`, { cause: err });
  }
  // The cause comes as an 'error' event (connect() then only says the connection closed); ioredis
  // would print every such event with its stack when nothing listens.
  let cause: Error | undefined;
  redis.on('error', (err: Error) => (cause ??= err));
  // connectTimeout covers only TCP: a Redis that accepts the connection but never answers the ready
  // check would leave connect() pending for good.
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
  });
  try {
    await Promise.race([redis.connect(), silent]);
    return redis;
  } catch (err) {
    redis.disconnect();
    const reason = (cause ?? (err as Error)).message;
    // The Sentinels answered: it is the group's name that is wrong, not where Redis is.
    if (target.sentinel && reason.includes('No such master with that name')) {
      const sentinels = target.sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(', ');
      throw new Error(`the Sentinels (${sentinels}) know no primary named "${target.sentinel.name}": set REDIS_SENTINEL_NAME to the name they monitor (sentinel monitor <name> … in their configuration)`, { cause: err });
    }
    const settings = target.cluster ? 'REDIS_CLUSTER_NODES' : target.sentinel ? 'REDIS_SENTINELS and REDIS_SENTINEL_NAME' : 'REDIS_URL';
    throw new Error(`cannot reach Redis at ${shown} (${reason}): start redis-server or set ${settings}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
