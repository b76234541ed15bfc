import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { normalizeHash, type Decision } from './contract.js';
import type { Approval, ApprovalRecord, CardLocation } from './approval.js';

/**
 * Approval state in Redis: one hash per approval, so any replica can serve any later step and a
 * restart loses nothing. Every change that must be decided once is one Lua script.
 *
 * Keys (P = STATE_PREFIX):
 *   P:approval:<id>    hash: request (JSON, without job), binding, card_id, created_at, status,
 *                      channel, ts, posted_at, post_started, post_failures,
 *                      decision (JSON, as pushed to the engine), decided_at, delivered, settled
 *   P:post-lease:<id>  token of the one delivery allowed to talk to Slack for this card now
 *   P:outbox           sorted set of approval ids whose decision is recorded but not yet settled
 *                      (delivered to the resume queue and shown on the card), scored by decided_at
 */

const CLAIM_CARD = `--[[
  Claims the right to post an approval's card: creates the approval if absent.
  Input:  KEYS[1] approval hash, KEYS[2] post lease
          ARGV[1] request JSON, ARGV[2] binding, ARGV[3] card id, ARGV[4] created_at (ms),
          ARGV[5] lease token, ARGV[6] lease ms, ARGV[7] retention s
  Output: {'claimed', card_id, created_at, ambiguous ('1' when an earlier attempt may have posted)}
          {'posted', channel, ts}      the card exists
          {'conflict', binding}        the approval exists bound to another snapshot or job hash
          {'busy', lease pttl}         another delivery holds the lease
]]
local record, lease = KEYS[1], KEYS[2]
if redis.call('EXISTS', record) == 0 then
  redis.call('HSET', record, 'request', ARGV[1], 'binding', ARGV[2], 'card_id', ARGV[3],
    'created_at', ARGV[4], 'status', 'pending', 'post_started', '1', 'post_failures', '0')
  redis.call('EXPIRE', record, ARGV[7])
  redis.call('SET', lease, ARGV[5], 'PX', ARGV[6])
  return {'claimed', ARGV[3], ARGV[4], '0'}
end
local fields = redis.call('HMGET', record, 'binding', 'ts', 'channel', 'card_id', 'created_at', 'post_started')
if fields[1] ~= ARGV[2] then return {'conflict', fields[1] or ''} end
if fields[2] then return {'posted', fields[3], fields[2]} end
local pttl = redis.call('PTTL', lease)
if pttl > 0 then return {'busy', tostring(pttl)} end
redis.call('HSET', record, 'post_started', '1')
redis.call('SET', lease, ARGV[5], 'PX', ARGV[6])
return {'claimed', fields[4], fields[5], fields[6] == '1' and '1' or '0'}
`;

const RENEW_LEASE = `--[[
  Extends the post lease while its holder is still talking to Slack.
  Input:  KEYS[1] post lease; ARGV[1] token, ARGV[2] lease ms
  Output: 1 when extended, 0 when the lease was lost (expired or taken over)
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

const RELEASE_AFTER_FAILURE = `--[[
  Gives the lease back after a failed post so the next attempt (or a duplicate) can try.
  Input:  KEYS[1] approval hash, KEYS[2] post lease; ARGV[1] token,
          ARGV[2] '1' when Slack certainly did not post (the next attempt need not look for the card)
  Output: the number of failed attempts so far
]]
if ARGV[2] == '1' then redis.call('HDEL', KEYS[1], 'post_started') end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HINCRBY', KEYS[1], 'post_failures', 1)
`;

const ABANDON = `--[[
  Forgets an approval whose card can never be posted as requested (say the bot is not in the
  channel), so the same request can be sent again once the cause is fixed.
  Input:  KEYS[1] approval hash, KEYS[2] post lease; ARGV[1] token
  Output: 1 when forgotten, 0 when a card exists after all (then nothing changes)
]]
if redis.call('HEXISTS', KEYS[1], 'ts') == 1 then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
`;

const SAVE_CARD = `--[[
  Records where the approval's card was posted. The first card recorded wins.
  Input:  KEYS[1] approval hash, KEYS[2] post lease
          ARGV[1] channel, ARGV[2] ts, ARGV[3] posted_at (ms), ARGV[4] token, ARGV[5] retention s
  Output: {'saved'}; {'other', channel, ts} when another card was recorded first;
          {'missing'} when the approval no longer exists
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local existing = redis.call('HMGET', KEYS[1], 'channel', 'ts')
if existing[2] and existing[2] ~= ARGV[2] then return {'other', existing[1], existing[2]} end
redis.call('HSET', KEYS[1], 'channel', ARGV[1], 'ts', ARGV[2], 'posted_at', ARGV[3])
redis.call('HDEL', KEYS[1], 'post_started')
redis.call('EXPIRE', KEYS[1], ARGV[5])
if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
return {'saved'}
`;

const RECORD_DECISION = `--[[
  Records the first decision on an approval, if the click was on its current card and the policy
  snapshot in force is still the one the decision was made under; queues it for delivery.
  Input:  KEYS[1] approval hash, KEYS[2] outbox, KEYS[3] policy snapshot key
          ARGV[1] card id clicked, ARGV[2] decision JSON, ARGV[3] decided_at (ms),
          ARGV[4] retention s, ARGV[5] snapshot in force as read, ARGV[6] approval id
  Output: {'recorded'}; {'decided', decision JSON} when a decision was recorded first;
          {'missing'}; {'superseded'} when the card is no longer current;
          {'policy_changed'} when the snapshot in force changed since it was read (decide again)
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local fields = redis.call('HMGET', KEYS[1], 'card_id', 'decision')
if fields[2] then return {'decided', fields[2]} end
if fields[1] ~= ARGV[1] then return {'superseded'} end
if redis.call('GET', KEYS[3]) ~= ARGV[5] then return {'policy_changed'} end
redis.call('HSET', KEYS[1], 'status', 'decided', 'decision', ARGV[2], 'decided_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[6])
return {'recorded'}
`;

const MARK_DELIVERED = `--[[
  Notes that an approval's decision is on the resume queue (its card may still need updating).
  Input:  KEYS[1] approval hash
  Output: 1
]]
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'delivered', '1') end
return 1
`;

const MARK_SETTLED = `--[[
  Notes that everything a decision sets off is done: delivered, and the card updated.
  Input:  KEYS[1] approval hash, KEYS[2] outbox; ARGV[1] approval id
  Output: 1
]]
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'settled', '1') end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`;

export type Claim =
  | { kind: 'claimed'; lease: string; approval: Approval; ambiguous: boolean }
  | { kind: 'posted'; card: CardLocation }
  | { kind: 'conflict' }
  | { kind: 'busy'; retryInMs: number };

export type SaveResult = { kind: 'saved' } | { kind: 'other'; card: CardLocation } | { kind: 'missing' };

export type RecordResult =
  | { kind: 'recorded' }
  | { kind: 'decided'; decision: Decision }
  | { kind: 'missing' }
  | { kind: 'superseded' }
  | { kind: 'policy_changed' };

/** A decided approval whose decision is not yet both delivered and shown on its card. */
export interface Unsettled {
  record: ApprovalRecord & { decision: Decision };
  delivered: boolean;
}

export interface StoreOptions {
  prefix: string;
  retentionSec: number;
  /** How long a post lease lasts without renewal: a crashed holder blocks others this long at most. */
  leaseMs: number;
}

export type Store = ReturnType<typeof createStore>;

/** Approval persistence over one ioredis connection. */
export function createStore(redis: Redis, options: StoreOptions) {
  const recordKey = (id: string) => `${options.prefix}:approval:${id}`;
  const leaseKey = (id: string) => `${options.prefix}:post-lease:${id}`;
  const outboxKey = `${options.prefix}:outbox`;
  const run = defineScripts(redis, { CLAIM_CARD, RENEW_LEASE, RELEASE_AFTER_FAILURE, ABANDON, SAVE_CARD, RECORD_DECISION, MARK_DELIVERED, MARK_SETTLED });
  const retention = String(options.retentionSec);

  return {
    leaseMs: options.leaseMs,

    /** Creates the approval if new and decides which delivery of its request posts the card. */
    async claimCard(candidate: Approval): Promise<Claim> {
      const lease = randomBytes(12).toString('hex');
      const { request } = candidate;
      const reply = (await run.CLAIM_CARD(
        [recordKey(candidate.id), leaseKey(candidate.id)],
        [JSON.stringify(request), bindingOf(request), candidate.cardId, String(candidate.createdAt), lease, String(options.leaseMs), retention],
      )) as string[];
      switch (reply[0]) {
        case 'claimed':
          return {
            kind: 'claimed',
            lease,
            approval: { ...candidate, cardId: reply[1]!, createdAt: Number(reply[2]) },
            ambiguous: reply[3] === '1',
          };
        case 'posted':
          return { kind: 'posted', card: { channel: reply[1]!, ts: reply[2]! } };
        case 'conflict':
          return { kind: 'conflict' };
        default:
          return { kind: 'busy', retryInMs: Number(reply[1]) };
      }
    },

    async renewLease(id: string, lease: string): Promise<boolean> {
      return (await run.RENEW_LEASE([leaseKey(id)], [lease, String(options.leaseMs)])) === 1;
    },

    /** @returns how many attempts have failed so far. */
    async releaseAfterFailure(id: string, lease: string, certainlyNotPosted: boolean): Promise<number> {
      return Number(await run.RELEASE_AFTER_FAILURE([recordKey(id), leaseKey(id)], [lease, certainlyNotPosted ? '1' : '0']));
    },

    /** @returns false when a card exists after all. */
    async abandon(id: string, lease: string): Promise<boolean> {
      return (await run.ABANDON([recordKey(id), leaseKey(id)], [lease])) === 1;
    },

    async saveCard(id: string, lease: string, card: CardLocation, now: number): Promise<SaveResult> {
      const reply = (await run.SAVE_CARD([recordKey(id), leaseKey(id)], [card.channel, card.ts, String(now), lease, retention])) as string[];
      if (reply[0] === 'other') return { kind: 'other', card: { channel: reply[1]!, ts: reply[2]! } };
      return reply[0] === 'missing' ? { kind: 'missing' } : { kind: 'saved' };
    },

    /** The card of an approval, when one was recorded. */
    async findCard(id: string): Promise<CardLocation | undefined> {
      const [channel, ts] = await redis.hmget(recordKey(id), 'channel', 'ts');
      return channel && ts ? { channel, ts } : undefined;
    },

    /** An approval and the policy snapshot in force, read together for a click. */
    async loadForDecision(id: string, policySnapshotKey: string): Promise<{ record: ApprovalRecord | undefined; snapshotInForce: string | undefined }> {
      const replies = await redis.multi().hgetall(recordKey(id)).get(policySnapshotKey).exec();
      if (!replies) throw new Error(`reading approval ${id} was aborted`);
      const [[recordError, fields], [snapshotError, snapshot]] = replies as [[Error | null, Record<string, string>], [Error | null, string | null]];
      if (recordError || snapshotError) throw recordError ?? snapshotError;
      return { record: toRecord(id, fields), snapshotInForce: snapshot ?? undefined };
    },

    /** Records the decision first-writer-wins; see RECORD_DECISION for the conditions. */
    async recordDecision(id: string, cardId: string, decision: Decision, snapshotSeen: string, policySnapshotKey: string, now: number): Promise<RecordResult> {
      const reply = (await run.RECORD_DECISION(
        [recordKey(id), outboxKey, policySnapshotKey],
        [cardId, JSON.stringify(decision), String(now), retention, snapshotSeen, id],
      )) as string[];
      if (reply[0] === 'decided') return { kind: 'decided', decision: JSON.parse(reply[1]!) as Decision };
      return { kind: reply[0] as 'recorded' | 'missing' | 'superseded' | 'policy_changed' };
    },

    async markDelivered(id: string): Promise<void> {
      await run.MARK_DELIVERED([recordKey(id)], []);
    },

    async markSettled(id: string): Promise<void> {
      await run.MARK_SETTLED([recordKey(id), outboxKey], [id]);
    },

    /** Decisions recorded at least `olderThanMs` ago and not yet settled, oldest first. */
    async unsettled(olderThanMs: number, limit: number, now: number): Promise<Unsettled[]> {
      const ids = await redis.zrangebyscore(outboxKey, '-inf', now - olderThanMs, 'LIMIT', 0, limit);
      const found: Unsettled[] = [];
      for (const id of ids) {
        const fields = await redis.hgetall(recordKey(id));
        const record = toRecord(id, fields);
        // An approval that expired before it could be settled has nothing left to do.
        if (!record?.decision) await redis.zrem(outboxKey, id);
        else found.push({ record: record as Unsettled['record'], delivered: fields.delivered === '1' });
      }
      return found;
    },
  };
}

function toRecord(id: string, fields: Record<string, string>): ApprovalRecord | undefined {
  if (!fields.request || !fields.card_id) return undefined;
  return {
    id,
    cardId: fields.card_id,
    request: JSON.parse(fields.request) as ApprovalRecord['request'],
    createdAt: Number(fields.created_at),
    ...(fields.channel && fields.ts ? { card: { channel: fields.channel, ts: fields.ts } } : {}),
    ...(fields.decision ? { decision: JSON.parse(fields.decision) as Decision } : {}),
  };
}

function bindingOf(request: Approval['request']): string {
  return `${normalizeHash(request.policy_snapshot)}/${normalizeHash(request.job_hash)}`;
}

type ScriptRunner = (keys: string[], args: string[]) => Promise<unknown>;

/** Registers Lua scripts on the connection (EVALSHA, falling back to EVAL after a Redis restart). */
function defineScripts<T extends Record<string, string>>(redis: Redis, scripts: T): { [K in keyof T]: ScriptRunner } {
  const runners = {} as { [K in keyof T]: ScriptRunner };
  for (const [name, lua] of Object.entries(scripts) as [keyof T & string, string][]) {
    const command = `approvals${name}`;
    if (!(command in redis)) redis.defineCommand(command, { lua });
    const call = (redis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[command]!.bind(redis);
    runners[name] = (keys, args) => call(keys.length, ...keys, ...args);
  }
  return runners;
}
