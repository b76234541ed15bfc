/**
 * The Lua scripts behind send turns (send-turns.ts): one schedule per paced scope (a channel for
 * chat.postMessage, the workspace for chat.update), shared by every replica. Times are Redis TIME in
 * ms, so replicas' clocks do not matter.
 *
 * A scope's hash holds `next` (the earliest free slot), `hold` (no call before this: Slack's
 * Retry-After) and `shift` (how far holds have pushed back every turn taken so far, in ms).
 * A caller's turn key holds `slot:shift_when_taken`, so a hold that comes after a turn was taken
 * moves that turn back by as much as it moved the others: the order of turns never changes.
 */

import { MAX_RETRY_AFTER_MS } from '../ops/slack-errors.js';

export const TAKE_TURN = `--[[
  Gives the caller its turn to call Slack in a scope: the same turn again if it has one (moved back
  by the holds since, and not before the current hold), else the
  next free slot (not before now, nor before the scope's hold), which it reserves.
  GCRA-like: up to ARGV[3] calls may share the current moment after a quiet spell (a burst).
  Input:  KEYS[1] scope hash, KEYS[2] the caller's turn key
          ARGV[1] interval between calls (ms), ARGV[2] how long keys outlive their last slot (ms),
          ARGV[3] burst (calls)
  Output: {slot ms, now ms}, both Redis TIME
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
local scope = redis.call('HMGET', KEYS[1], 'next', 'hold', 'shift')
local nextFree = tonumber(scope[1]) or 0
-- A hold further off than any Retry-After we accept (left by an older version) counts as that far.
local hold = math.min(tonumber(scope[2]) or 0, now + ${MAX_RETRY_AFTER_MS})
local shift = tonumber(scope[3]) or 0
local mine = redis.call('GET', KEYS[2])
if mine then
  local sep = string.find(mine, ':', 1, true)
  local slot = tonumber(string.sub(mine, 1, sep - 1)) + shift - tonumber(string.sub(mine, sep + 1))
  -- A turn whose moment had come when the hold began (its call was in flight) goes first after it.
  return {math.max(slot, hold), now}
end
local slot = math.max(now, hold, nextFree - (tonumber(ARGV[3]) - 1) * interval)
nextFree = math.max(nextFree, slot) + interval
redis.call('HSET', KEYS[1], 'next', nextFree)
redis.call('PEXPIRE', KEYS[1], nextFree - now + keep)
redis.call('SET', KEYS[2], slot .. ':' .. shift, 'PX', slot - now + keep)
return {slot, now}
`;

export const HOLD = `--[[
  Holds a scope until Slack's Retry-After has passed (a 429), and moves every turn already taken
  back by as much as the hold grew, keeping their order and spacing.
  Input:  KEYS[1] scope hash; ARGV[1] Retry-After (ms; NaN counts as 0; clamped to 0..${MAX_RETRY_AFTER_MS} and made whole,
          so a value beyond reason neither holds the scope for years nor leaves it without a TTL),
          ARGV[2] how long the hash outlives its last slot (ms)
  Output: {hold until ms, how much the hold grew ms (0 when another caller already held it as long)}
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local scope = redis.call('HMGET', KEYS[1], 'next', 'hold', 'shift')
local nextFree = tonumber(scope[1]) or 0
local hold = math.min(tonumber(scope[2]) or 0, now + ${MAX_RETRY_AFTER_MS})
local shift = tonumber(scope[3]) or 0
local asked = tonumber(ARGV[1]) or 0
if asked ~= asked then asked = 0 end -- NaN: no Retry-After worth the name
local retryAfter = math.floor(math.min(math.max(asked, 0), ${MAX_RETRY_AFTER_MS}))
local until_ = now + retryAfter
local from = math.max(hold, now)
if until_ <= from then return {hold, 0} end
local grew = until_ - from
nextFree = math.max(nextFree + grew, until_)
redis.call('HSET', KEYS[1], 'next', nextFree, 'hold', until_, 'shift', shift + grew)
redis.call('PEXPIRE', KEYS[1], nextFree - now + tonumber(ARGV[2]))
return {until_, grew}
`;

export const DROP_TURN = `--[[
  Gives up the caller's turn (its call went through, or failed for a reason other than a rate limit).
  Input:  KEYS[1] the caller's turn key
  Output: 1 when there was one
]]
return redis.call('DEL', KEYS[1])
`;
