import type { RedisClient } from '../ops/redis-connection.js';
import type { Logger } from '../ops/logger.js';

/**
 * Waits until `count` replicas have every write this connection made so far (Redis `WAIT`), for at
 * most `timeoutMs`; resolves with how many did. With `count` 0 it resolves at once, asking nothing.
 * Used before a decision is pushed or shown: Redis replicates asynchronously, so a failover can
 * lose a decision the primary acknowledged a moment before; once a replica has it, promoting that
 * replica keeps it. When fewer replicas answer in time the decision goes on regardless (the gate
 * stays available with a replica down) and a warning says so.
 * `WAIT` covers the writes of the connection it is sent on: pass the one the store records on.
 * It holds that connection for up to `timeoutMs`, so keep the timeout short (default 500 ms); and
 * after a wait that timed out, the next decisions do not wait for BACKOFF_MS (a replica is down:
 * waiting on every decision would hold every other command on the connection), then it tries again.
 * @see https://redis.io/docs/latest/commands/wait/
 */
export function createReplicaWait(
  redis: RedisClient,
  options: { count: number; timeoutMs: number; log: Logger; now?: () => number },
): (approvalId: string) => Promise<number | 'skipped'> {
  const now = options.now ?? Date.now;
  let skipUntil = 0;
  return async (approvalId) => {
    if (options.count === 0 || now() < skipUntil) return 'skipped';
    const acknowledged = Number(await redis.call('WAIT', String(options.count), String(options.timeoutMs)));
    if (acknowledged < options.count) {
      skipUntil = now() + BACKOFF_MS;
      options.log.warn(
        { approval_id: approvalId, replicas_acknowledged: acknowledged, replicas_wanted: options.count, timeout_ms: options.timeoutMs, next_wait_in_ms: BACKOFF_MS },
        'decision not yet on enough replicas; going on (a failover now could lose it)',
      );
    }
    return acknowledged;
  };
}

/** After a wait for replicas timed out, decisions go on without waiting for this long (ms). */
export const BACKOFF_MS = 10_000;
