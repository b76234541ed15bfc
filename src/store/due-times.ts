import type { RedisClient } from '../ops/redis-connection.js';
import { defineScripts } from './define-scripts.js';

/**
 * When each approval's timers are due, in one sorted set (`<STATE_PREFIX>:due`, under the state
 * prefix like every other key of the bot), swept by every replica and run by one: a sweep claims
 * what is due in one Lua step by pushing its score a lease ahead, and gives it up (removes it, or
 * sets the next due time) only once its work is done. A sweep that dies leaves its entries due again
 * when the lease ends. An entry is only a wake-up: the handler re-reads the approval and decides from
 * it what is due, so an entry left by a replaced card or an ended approval does nothing.
 *
 * Member: `<kind>:<approval id>`; score: when it is due (ms since the epoch), or, while claimed, when
 * the claim's lease ends. About 130 bytes of Redis per entry (a delayed BullMQ job took 1,150).
 */

/** What a due entry sets off. `sweep0`/`sweep1` look for late duplicates of a card (see timers.ts). */
export type TimerKind = 'expire' | 'remind' | 'escalate' | 'sweep0' | 'sweep1';

/** A timer's due time: what, for which approval, when (ms since the epoch). */
export interface DueTime {
  kind: TimerKind;
  at: number;
}

/** A due entry this sweep claimed; `leasedUntil` (ms) is both the lease's end and the claim's token. */
export interface ClaimedTimer {
  kind: TimerKind;
  approvalId: string;
  leasedUntil: number;
}

/** The timers an approval's card sets: scheduling a card's timers first clears these. */
export const CARD_TIMERS: readonly TimerKind[] = ['expire', 'remind', 'escalate'];
const KINDS: ReadonlySet<string> = new Set<TimerKind>(['expire', 'remind', 'escalate', 'sweep0', 'sweep1']);

/** The sorted set's member for a timer of an approval. */
export function dueMember(kind: TimerKind, approvalId: string): string {
  return `${kind}:${approvalId}`;
}

/** The due set's key under a state prefix. */
export function dueKeyOf(prefix: string): string {
  return `${prefix}:due`;
}

const CLAIM_DUE = `--[[
  Claims the timers due at ARGV[1], oldest first, for one sweep: each claimed entry's score becomes
  the end of the lease, so no other sweep takes it until then, and a sweep that dies gives it back.
  Input:  KEYS[1] due set; ARGV[1] now (ms), ARGV[2] lease (ms), ARGV[3] at most this many
  Output: {lease end (ms), member…}
]]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local lease_end = tostring(tonumber(ARGV[1]) + tonumber(ARGV[2]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], lease_end, member) end
return {lease_end, unpack(due)}
`;

const FINISH_DUE = `--[[
  Ends a claimed timer: removes it, or sets when it is next due. Does nothing when the entry was
  rescheduled meanwhile (a new card set its timers) or its lease ended and another sweep took it.
  Input:  KEYS[1] due set; ARGV[1] member, ARGV[2] the claim's lease end (ms), ARGV[3] next due (ms; '' for none)
  Output: 1 when done, 0 when the entry was no longer this claim's
]]
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1
`;

export type DueTimes = ReturnType<typeof createDueTimes>;

/** The due set over one ioredis connection; `prefix` is STATE_PREFIX. */
export function createDueTimes(redis: RedisClient, prefix: string) {
  const key = dueKeyOf(prefix);
  const run = defineScripts(redis, { CLAIM_DUE, FINISH_DUE });
  return {
    key,

    /**
     * Claims up to `limit` timers due at `now` (ms) for `leaseMs` (ms): this caller runs them, then
     * calls {@link finish}; unfinished, they are due again when the lease ends.
     */
    async claim(now: number, leaseMs: number, limit: number): Promise<ClaimedTimer[]> {
      const [leaseEnd, ...members] = (await run.CLAIM_DUE([key], [String(now), String(leaseMs), String(limit)])) as string[];
      return members.flatMap((member) => {
        const colon = member.indexOf(':');
        const kind = member.slice(0, colon);
        // A member this version does not know (written by a newer one) is left to its lease.
        return KINDS.has(kind) ? [{ kind: kind as TimerKind, approvalId: member.slice(colon + 1), leasedUntil: Number(leaseEnd) }] : [];
      });
    },

    /** Ends a claimed timer, or sets it due again at `next` (ms). @returns false when it was no longer this claim's. */
    async finish(timer: ClaimedTimer, next?: number): Promise<boolean> {
      const member = dueMember(timer.kind, timer.approvalId);
      return (await run.FINISH_DUE([key], [member, String(timer.leasedUntil), next === undefined ? '' : String(next)])) === 1;
    },

    /** Sets timers unless they are set already (ZADD NX): scheduling again while they wait is a no-op. */
    async scheduleIfAbsent(approvalId: string, due: DueTime[]): Promise<void> {
      if (due.length > 0) await redis.zadd(key, 'NX', ...due.flatMap((d) => [d.at, dueMember(d.kind, approvalId)]));
    },
  };
}
