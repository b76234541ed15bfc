import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTarget } from './redis-env.js';

/** A connection to the gate's Redis: one server (maybe found through Sentinel) or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * How long a Sentinel may take to answer one command (which server is the primary), in ms, before
 * the connection asks the next Sentinel. Without it a Sentinel that hangs with its socket open holds
 * a reconnection up for ever. A Sentinel answers from memory: 2 s is generous even under load.
 */
export const SENTINEL_COMMAND_TIMEOUT_MS = 2_000;

/**
 * A Redis client for the target: a plain connection to `url`; or, with Sentinel, a connection to
 * the primary the Sentinels name, followed to the new primary after a failover: when the connection
 * drops (Sentinel closes the clients of every server it reconfigures), ioredis asks the Sentinels again, one after
 * the other, retrying from the first for as long as it takes; or, with Cluster, an ioredis `Cluster`
 * that learns the slots from the nodes given and follows MOVED/ASK redirections and failovers.
 * `options` are ioredis options (e.g. `maxRetriesPerRequest: null`, which BullMQ needs); for a cluster
 * they apply to each node's connection, except `lazyConnect`, `enableOfflineQueue` and
 * `retryStrategy`, which apply to the cluster as a whole (as `clusterRetryStrategy`).
 * The URL must already be valid (loadConfig checks it).
 */
export function createRedis(target: RedisTarget, options: RedisOptions = {}): RedisClient {
  if (target.cluster) return createCluster(target.cluster.nodes, target.url, options);
  if (!target.sentinel) return new Redis(target.url, options);
  const url = new URL(target.url);
  const db = Number(url.pathname.replace(/^\//, '') || 0);
  return new Redis({
    sentinels: target.sentinel.sentinels,
    name: target.sentinel.name,
    ...(target.sentinel.password ? { sentinelPassword: target.sentinel.password } : {}),
    ...credentialsOf(url),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    sentinelCommandTimeout: SENTINEL_COMMAND_TIMEOUT_MS,
    // Not ioredis's `failoverDetector`: when `+switch-master` arrives while the client is already
    // reconnecting (asking a Sentinel), it aborts that reconnection and the client ends for good,
    // failing every command with "Connection is closed." (ioredis 5.11 and 6.0, SentinelConnector).
    ...options,
  });
}

/** The user, password and TLS of a Redis URL, as ioredis options. */
function credentialsOf(url: URL): RedisOptions {
  return {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

function createCluster(nodes: { host: string; port: number }[], url: string, options: RedisOptions): Cluster {
  const credentials = credentialsOf(new URL(url));
  return new Cluster(nodes, {
    ...clusterOptionsOf(options, credentials),
    // With TLS, managed clusters announce their nodes by host name, and the certificates name those
    // hosts: connect by name, not by the address ioredis would resolve it to (ioredis's advice for
    // ElastiCache and MemoryDB with TLS).
    ...(credentials.tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
  });
}

/** ioredis options as a cluster takes them: some for the cluster as a whole, the rest for each node's connection on top of `base`. */
function clusterOptionsOf(options: RedisOptions, base: ClusterOptions['redisOptions']): ClusterOptions {
  const { lazyConnect, enableOfflineQueue, retryStrategy, ...nodeOptions } = options;
  return {
    redisOptions: { ...base, ...nodeOptions },
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...(retryStrategy !== undefined ? { clusterRetryStrategy: retryStrategy } : {}),
  };
}

/**
 * Another connection to the same Redis with `options` changed (see {@link createRedis} for how
 * they apply to a cluster): for a blocking reader, or commands that must not queue behind others.
 */
export function duplicateRedis(client: RedisClient, options: RedisOptions = {}): RedisClient {
  if (!(client instanceof Cluster)) return client.duplicate(options);
  return client.duplicate([], clusterOptionsOf(options, client.options.redisOptions));
}

/** Where the bot's Redis is, fit for logs: the URL without its password, the Sentinels and group, or the cluster's nodes. */
export function describeRedisTarget(target: RedisTarget, redactUrl: (url: string) => string): string {
  if (target.cluster) return `the Redis Cluster of ${target.cluster.nodes.map((n) => `${n.host}:${n.port}`).join(', ')}`;
  if (!target.sentinel) return redactUrl(target.url);
  return `the primary "${target.sentinel.name}" named by Sentinel ${target.sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(', ')}`;
}
