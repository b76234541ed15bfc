import type { CliConfig } from '../../ops/config.js';
import { createApprovalClient, type ApprovalClient } from '../approval-client.js';

/**
 * The approval client for the command line and the MCP server, from their environment: its Redis,
 * queue names and prefix, the policy snapshot key, the bot's key prefix and, when given, the public
 * keys decisions must be signed with. Close it with `client.close()`.
 */
export function clientFromConfig(config: CliConfig): ApprovalClient {
  return createApprovalClient({
    connection: config.redisUrl,
    requestQueue: config.queues.request,
    resumeQueue: config.queues.resume,
    prefix: config.queues.prefix,
    policySnapshotKey: config.policySnapshotKey,
    statePrefix: config.statePrefix,
    ...(config.publicKeys ? { publicKeys: config.publicKeys } : {}),
  });
}
