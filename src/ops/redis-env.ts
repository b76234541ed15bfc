import { z } from 'zod';

/** A server's address, as given in REDIS_SENTINELS or REDIS_CLUSTER_NODES. */
export interface HostPort {
  host: string;
  port: number;
}

/** Where Redis is: a URL, and, with Sentinel, the Sentinels that name the primary, or, with Cluster, nodes of the cluster. */
export interface RedisTarget {
  url: string;
  sentinel?: { sentinels: HostPort[]; name: string; password?: string };
  /** Nodes to discover the cluster from (REDIS_CLUSTER_NODES); REDIS_URL's user, password and `rediss:` apply to every node. */
  cluster?: { nodes: HostPort[] };
  /** Replicas that must acknowledge a decision before it is pushed and shown (0: none), and for how long to wait (ms). */
  waitReplicas: { count: number; timeoutMs: number };
}

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

/** A Redis URL as it may be shown in an error: without the password between `//` and `@`. */
export function hidePassword(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//***@');
}

/** Comma-separated `host:port` pairs (IPv6 hosts in brackets); `example` is shown when the list is not that. */
const hostPortList = (example: string) =>
  optionalText.transform((list, ctx): HostPort[] | undefined => {
    if (list === undefined) return undefined;
    const entries = list.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
    const parsed = entries.map((entry) => /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(entry));
    const bad = entries.filter((_, i) => !parsed[i] || Number(parsed[i]![2]) > 65535);
    if (entries.length === 0 || bad.length > 0) {
      ctx.addIssue({ code: 'custom', message: `must be host:port pairs, comma-separated, such as ${example} (not ${bad.map((b) => `"${b}"`).join(', ') || 'empty'})` });
      return z.NEVER;
    }
    return parsed.map((m) => ({ host: m![1]!.replace(/^\[|\]$/g, ''), port: Number(m![2]) }));
  });

/** The Redis settings of the bot, the command line and the MCP server: one reading for all three. */
export const RedisEnvShape = {
  /** @defaultValue `redis://127.0.0.1:6379` */
  REDIS_URL: z
    .string()
    .trim()
    .default('redis://127.0.0.1:6379')
    .refine((url) => /^rediss?:\/\//.test(url), { message: 'must start with redis:// or rediss://', abort: true })
    .superRefine((url, ctx) => {
      // ioredis would throw a TypeError with a stack at start-up: say it in one line instead.
      if (!URL.canParse(url)) ctx.addIssue({ code: 'custom', message: `is not a valid URL ("${hidePassword(url)}"): use redis://[user:password@]host:port[/db]` });
    }),
  /**
   * Sentinels to ask for the primary, comma-separated `host:port`: the bot then follows the
   * primary Sentinel names (REDIS_URL's host is not used; its user, password, database and
   * `rediss:` still apply to the primary).
   */
  REDIS_SENTINELS: hostPortList('sentinel-1:26379,sentinel-2:26379'),
  /** The master group name the Sentinels monitor (`sentinel monitor <name> …`). @defaultValue `mymaster` */
  REDIS_SENTINEL_NAME: z.string().trim().min(1).default('mymaster'),
  /** The Sentinels' own password (`requirepass` in sentinel.conf), when they have one. */
  REDIS_SENTINEL_PASSWORD: optionalText,
  /**
   * Nodes of a Redis Cluster, comma-separated `host:port` (one is enough; the others are discovered):
   * the bot then speaks the cluster protocol (REDIS_URL's host is not used; its user, password and
   * `rediss:` apply to every node). Every key must then share one hash tag (see the README).
   */
  REDIS_CLUSTER_NODES: hostPortList('redis-1:6379,redis-2:6379'),
  /**
   * How many replicas must have a decision before the bot pushes it and shows it (Redis `WAIT`);
   * 0 does not wait. With asynchronous replication a failover can otherwise lose the last writes.
   * @defaultValue 0
   */
  REDIS_WAIT_REPLICAS: z.coerce.number().int().min(0, 'must be 0 or more').max(16, 'must be at most 16').default(0),
  /** How long a decision waits for those replicas before it goes on regardless (ms). @defaultValue 500 */
  REDIS_WAIT_TIMEOUT_MS: z.coerce.number().int().positive('must be a positive whole number').max(10_000, 'must be at most 10000 (10 s)').default(500),
};

type RedisEnv = z.infer<z.ZodObject<typeof RedisEnvShape>>;

/** The checks across the Redis settings, for a zod `superRefine`. */
export function checkRedisEnv(env: RedisEnv, ctx: z.RefinementCtx): void {
  if (!env.REDIS_CLUSTER_NODES) return;
  if (env.REDIS_SENTINELS) {
    ctx.addIssue({ code: 'custom', path: ['REDIS_CLUSTER_NODES'], message: 'must not be set with REDIS_SENTINELS: a Redis Cluster fails over by itself; set one or the other' });
  }
  if (URL.canParse(env.REDIS_URL) && !/^\/?0?$/.test(new URL(env.REDIS_URL).pathname)) {
    ctx.addIssue({ code: 'custom', path: ['REDIS_URL'], message: 'must name no database (or /0) with REDIS_CLUSTER_NODES: a Redis Cluster has database 0 only' });
  }
  if (env.REDIS_WAIT_REPLICAS > 0) {
    // WAIT counts the replicas of the node it is sent to; routing it to the node of the gate's slot is not built.
    ctx.addIssue({ code: 'custom', path: ['REDIS_WAIT_REPLICAS'], message: 'is not supported with REDIS_CLUSTER_NODES yet: set it to 0 (a cluster primary replicates asynchronously; see the README)' });
  }
}

/** The target the settings name (already checked by {@link checkRedisEnv}). */
export function redisTargetOf(env: RedisEnv): RedisTarget {
  return {
    url: env.REDIS_URL,
    waitReplicas: { count: env.REDIS_WAIT_REPLICAS, timeoutMs: env.REDIS_WAIT_TIMEOUT_MS },
    ...(env.REDIS_SENTINELS
      ? { sentinel: { sentinels: env.REDIS_SENTINELS, name: env.REDIS_SENTINEL_NAME, ...(env.REDIS_SENTINEL_PASSWORD ? { password: env.REDIS_SENTINEL_PASSWORD } : {}) } }
      : {}),
    ...(env.REDIS_CLUSTER_NODES ? { cluster: { nodes: env.REDIS_CLUSTER_NODES } } : {}),
  };
}
