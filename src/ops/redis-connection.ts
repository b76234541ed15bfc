import { Redis, type RedisOptions } from 'ioredis';
import type { RedisTarget } from './config.js';

/**
 * How long a Sentinel may take to answer one command (which server is the primary), in ms, before
 * the connection asks the next Sentinel. Without it a Sentinel that hangs with its socket open holds
 * a reconnection up for ever. A Sentinel answers from memory: 2 s is generous even under load.
 */
export const SENTINEL_COMMAND_TIMEOUT_MS = 2_000;

/**
 * A Redis client for the target: a plain connection to `url`, or, with Sentinel, a connection to
 * the primary the Sentinels name, followed to the new primary after a failover: when the connection
 * drops (Sentinel closes the clients of every server it reconfigures), ioredis asks the Sentinels again, one after
 * the other, retrying from the first for as long as it takes.
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
    sentinelCommandTimeout: SENTINEL_COMMAND_TIMEOUT_MS,
    // Not ioredis's `failoverDetector`: when `+switch-master` arrives while the client is already
    // reconnecting (asking a Sentinel), it aborts that reconnection and the client ends for good,
    // failing every command with "Connection is closed." (ioredis 5.11 and 6.0, SentinelConnector).
    ...options,
  });
}

/** Where the bot's Redis is, fit for logs: the URL without its password, or the Sentinels and group. */
export function describeRedisTarget(target: RedisTarget, redactUrl: (url: string) => string): string {
  if (!target.sentinel) return redactUrl(target.url);
  return `the primary "${target.sentinel.name}" named by Sentinel ${target.sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(', ')}`;
}
