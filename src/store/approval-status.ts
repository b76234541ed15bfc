import type { RedisClient } from '../ops/redis-connection.js';
import type { Decision } from '../domain/contract.js';
import type { Cancellation } from '../domain/approval.js';

/** The key of an approval's record (a hash; see store.ts for its fields). */
export function recordKeyOf(statePrefix: string, approvalId: string): string {
  return `${statePrefix}:approval:${approvalId}`;
}

/** The key of an ended approval's tombstone: JSON {binding, version, decision | cancelled}. */
export function tombstoneKeyOf(statePrefix: string, approvalId: string): string {
  return `${statePrefix}:tombstone:${approvalId}`;
}

/**
 * Where an approval stands, as the bot's store says: `unknown` when the bot has no record of it (not
 * requested, not yet taken from the request queue, or forgotten after DECISION_TOMBSTONE_SEC). The
 * decision here is as recorded, unsigned: the signed one is the resume queue's.
 */
export type ApprovalStatus =
  | { state: 'pending'; votes: number }
  | { state: 'decided'; decision: Decision }
  | { state: 'cancelled'; reason: string; at: string }
  | { state: 'unknown' };

/** Reads an approval's state without changing anything: its record, else its tombstone. */
export async function readApprovalStatus(redis: RedisClient, statePrefix: string, approvalId: string): Promise<ApprovalStatus> {
  const [[recordError, fields], [tombstoneError, tombstone]] = (await redis
    .multi()
    .hmget(recordKeyOf(statePrefix, approvalId), 'request', 'decision', 'cancelled', 'votes')
    .get(tombstoneKeyOf(statePrefix, approvalId))
    .exec()) as [[Error | null, (string | null)[]], [Error | null, string | null]];
  if (recordError || tombstoneError) throw recordError ?? tombstoneError;
  const [request, decision, cancelled, votes] = fields;
  const ending: { decision?: Decision; cancelled?: Cancellation } | undefined = request
    ? { ...(decision ? { decision: JSON.parse(decision) as Decision } : {}), ...(cancelled ? { cancelled: JSON.parse(cancelled) as Cancellation } : {}) }
    : tombstone
      ? (JSON.parse(tombstone) as { decision?: Decision; cancelled?: Cancellation })
      : undefined;
  if (ending?.decision) return { state: 'decided', decision: ending.decision };
  if (ending?.cancelled) return { state: 'cancelled', reason: ending.cancelled.reason, at: ending.cancelled.at };
  if (request) return { state: 'pending', votes: votes ? (JSON.parse(votes) as unknown[]).length : 0 };
  return { state: 'unknown' };
}
