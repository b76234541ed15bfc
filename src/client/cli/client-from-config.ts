import type { CliConfig } from '../../ops/config.js';
import { createRedis } from '../../ops/redis-connection.js';
import { createApprovalClient, type ApprovalClient } from '../approval-client.js';

/**
 * The approval client for the command line and the MCP server, from their environment: its Redis,
 * queue names and prefix, the policy snapshot key, the bot's key prefix and, when given, the public
 * keys decisions must be signed with. Its connection follows REDIS_SENTINELS or REDIS_CLUSTER_NODES
 * when set, and waits out reconnects. Close it with `client.close()` (which closes the connection).
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
