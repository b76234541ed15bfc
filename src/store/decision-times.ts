import type { RedisClient } from '../ops/redis-connection.js';

/**
 * How long reviewers took to decide, per route, for `/approvals stats`: one sorted set per route,
 * `P:decision-times:<route>`, a member `<approval id>:<seconds>` scored by when it was decided (ms).
 * Bounded: entries older than {@link STATS_WINDOW_MS} are dropped on every write, at most
 * {@link MAX_PER_ROUTE} are kept (the oldest go first), and the key expires a day after the window
 * past its last write. About 60 bytes an entry: at most about 600 KB per route.
 */

/** The window `/approvals stats` covers (ms): 7 days. */
export const STATS_WINDOW_MS = 7 * 86_400_000;
/** The most decision times kept per route. */
export const MAX_PER_ROUTE = 10_000;

export interface DecisionTimes {
  /** Records that an approval on `route` was decided `seconds` after its card was posted, at `decidedAt` (ms). The same approval twice counts once. */
  record(route: string, approvalId: string, seconds: number, decidedAt: number): Promise<void>;
  /** The times to decision (s) recorded for each route within the window before `now` (ms). */
  within(routes: readonly string[], now: number): Promise<Map<string, number[]>>;
}

/** @param maxPerRoute how many times a route keeps at most ({@link MAX_PER_ROUTE} unless said). */
export function createDecisionTimes(redis: RedisClient, prefix: string, maxPerRoute = MAX_PER_ROUTE): DecisionTimes {
  const key = (route: string) => `${prefix}:decision-times:${route}`;
  return {
    async record(route, approvalId, seconds, decidedAt) {
      const k = key(route);
      await redis
        .multi()
        .zadd(k, decidedAt, `${approvalId}:${Math.max(0, Math.round(seconds))}`)
        .zremrangebyscore(k, '-inf', decidedAt - STATS_WINDOW_MS)
        .zremrangebyrank(k, 0, -(maxPerRoute + 1))
        .pexpire(k, STATS_WINDOW_MS + 86_400_000)
        .exec();
    },
    async within(routes, now) {
      const pipeline = redis.pipeline();
      for (const route of routes) pipeline.zrangebyscore(key(route), now - STATS_WINDOW_MS, '+inf');
      const replies = (await pipeline.exec()) ?? [];
      const times = new Map<string, number[]>();
      routes.forEach((route, index) => {
        const [err, members] = replies[index] ?? [null, []];
        if (err) throw err;
        times.set(route, (members as string[]).map((member) => Number(member.slice(member.lastIndexOf(':') + 1))));
      });
      return times;
    },
  };
}
