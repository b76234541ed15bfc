import { Redis, type RedisOptions } from 'ioredis';
import type { RedisTarget } from './config.js';

/**
 * A Redis client for the target: a plain connection to `url`, or, with Sentinel, a connection to
 * the primary the Sentinels name, followed to the new primary after a failover (ioredis asks the
 * Sentinels again when the connection drops, and listens for their `+switch-master`).
 * `options` are ioredis options (e.g. `maxRetriesPerRequest: null`, which BullMQ needs).
 * The URL must already be valid (loadConfig checks it).
 */
export function createRedis(target: RedisTarget, options: RedisOptions = {}): Redis {
  if (!target.sentinel) return new Redis(target.url, options);
  const url = new URL(target.url);
  const db = Number(url.pathname.replace(/^\//, '') || 0);
  return new Redis({
    sentinels: target.sentinel.sentinels,
    name: target.sentinel.name,
    ...(target.sentinel.password ? { sentinelPassword: target.sentinel.password } : {}),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    // Reconnect to the new primary as soon as the Sentinels announce it, not at the next error.
    failoverDetector: true,
    ...options,
  });
}

/** Where the bot's Redis is, fit for logs: the URL without its password, or the Sentinels and group. */
export function describeRedisTarget(target: RedisTarget, redactUrl: (url: string) => string): string {
  if (!target.sentinel) return redactUrl(target.url);
  return `the primary "${target.sentinel.name}" named by Sentinel ${target.sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(', ')}`;
}
