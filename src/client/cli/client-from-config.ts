import type { CliConfig } from '../../ops/config.js';
import { createRedis } from '../../ops/redis-connection.js';
import { createApprovalClient, type ApprovalClient } from '../approval-client.js';

/**
 * How long (ms) a wait on the command line or the MCP server goes on while Redis answers none of its
 * reads: long enough to outlive a Redis restart, short enough that a CI step on a hung Redis ends
 * (exit 3) rather than hold its pipeline.
 */
export const MAX_REDIS_SILENCE_MS = 30_000;

/**
 * How long (ms) queuing one request (the read of the policy snapshot in force, then BullMQ's add) may
 * take on the command line and the MCP server. Past it the request may or may not be queued: the add
 * is still waiting on the connection and goes through if Redis answers later.
 */
export const SEND_DEADLINE_MS = 10_000;

/**
 * How long (ms) one read of the bot's store (an approval's state) may go unanswered behind an MCP tool
 * call: the command line's per-command limit (connect-redis.ts), and a waiter's `readTimeoutMs`.
 */
export const READ_DEADLINE_MS = 5_000;

/**
 * The approval client for the command line and the MCP server, from their environment: its Redis,
 * queue names and prefix, the policy snapshot key, the bot's key prefix and, when given, the public
 * keys decisions must be signed with. Its connection follows REDIS_SENTINELS or REDIS_CLUSTER_NODES
 * when set, and waits out reconnects; a wait gives up after {@link MAX_REDIS_SILENCE_MS} of a silent
 * Redis. Close it with `client.close()` (which closes the connection).
 */
export function clientFromConfig(config: CliConfig): ApprovalClient {
  const redis = createRedis(config.redis, { maxRetriesPerRequest: null });
  // Commands wait for a reconnect; ioredis would print each error with its stack.
  redis.on('error', () => undefined);
  const client = createApprovalClient({
    connection: redis,
    requestQueue: config.queues.request,
    resumeQueue: config.queues.resume,
    prefix: config.queues.prefix,
    policySnapshotKey: config.policySnapshotKey,
    statePrefix: config.statePrefix,
    maxRedisSilenceMs: MAX_REDIS_SILENCE_MS,
    ...(config.publicKeys ? { publicKeys: config.publicKeys } : {}),
  });
  return {
    ...client,
    async close() {
      await client.close();
      redis.disconnect();
    },
  };
}
