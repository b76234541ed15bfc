import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { normalizeHash } from './contract.js';
import type { Approval, CardLocation } from './approval.js';

/**
 * Approval state in Redis: one hash per approval, so any replica can serve any later step and a
 * restart loses nothing. Every change that must be decided once is one Lua script.
 *
 * Keys (P = STATE_PREFIX):
 *   P:approval:<id>    hash: request (JSON, without job), binding, card_id, created_at, status,
 *                      channel, ts, posted_at, post_started, post_failures
 *   P:post-lease:<id>  token of the one delivery allowed to talk to Slack for this card now
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

export type Claim =
  | { kind: 'claimed'; lease: string; approval: Approval; ambiguous: boolean }
  | { kind: 'posted'; card: CardLocation }
  | { kind: 'conflict' }
  | { kind: 'busy'; retryInMs: number };

export type SaveResult = { kind: 'saved' } | { kind: 'other'; card: CardLocation } | { kind: 'missing' };

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
  const run = defineScripts(redis, { CLAIM_CARD, RENEW_LEASE, RELEASE_AFTER_FAILURE, ABANDON, SAVE_CARD });
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
