/**
 * The Lua scripts behind send turns (send-turns.ts): one schedule per paced scope (a channel for
 * chat.postMessage, the workspace for chat.update), shared by every replica. Times are Redis TIME in
 * ms, so replicas' clocks do not matter.
 *
 * A scope has four keys: a hash with `next` (the earliest free slot, GCRA's theoretical arrival
 * time), `hold` (no call before this: Slack's Retry-After) and `last` (the latest slot whose call may
 * have been made); a sorted set of the turns taken (caller → slot, ms); a sorted set of their
 * leases (caller → ms by which the caller must call, or come back for its turn); and a hash of the
 * enqueue orders of the callers that have one (caller → '<ms>:<job id>', request cards). A turn whose lease
 * has passed is reclaimed: its holder died or forgot it, and the turns after it move up, in order, a
 * pace apart, so that nobody waits behind a turn that will never be used.
 */

import { MAX_RETRY_AFTER_MS } from '../ops/slack-errors.js';
import { COMPARE_ENQUEUE_ORDER } from './compare-orders-script.js';

export const TAKE_TURN = `--[[
  Gives the caller its turn to call Slack in a scope: the same turn again if it has one (not before
  the current hold), else the next free slot (not before now, nor before the scope's hold), which it
  reserves. GCRA-like: up to ARGV[3] calls may share the current moment after a quiet spell (a burst).
  First reclaims the turns whose leases have passed, and moves the later turns up into their places.
  A new caller with an enqueue order (ARGV[8]) goes before the turns still to come whose callers were
  enqueued after it: each of those moves to the next one's slot (the last to the new slot), so that
  cards go in the order their requests were enqueued, whatever order their jobs happened to run in,
  with no slot added or removed. A turn whose moment has come is never moved (its call may be in
  flight), nor is one without an order (a reminder keeps the place it took), nor is one moved earlier.
  A caller told to wait must take its turn again before calling: its slot may have moved back.
  Then leases the caller's turn: until its slot (+ grace) when the caller will wait for it in process
  (the slot is within ARGV[4]), else for ARGV[5] (+ grace), by which the caller must come back.
  Input:  KEYS[1] scope hash, KEYS[2] turns (zset caller → slot), KEYS[3] leases (zset caller → ms),
          KEYS[4] enqueue orders (hash caller → order)
          ARGV[1] interval between calls (ms), ARGV[2] how long keys outlive their last slot (ms),
          ARGV[3] burst (calls), ARGV[4] longest wait the caller makes in process (ms),
          ARGV[5] how often a caller waiting elsewhere comes back (ms), ARGV[6] grace (ms), ARGV[7] caller,
          ARGV[8] the caller's enqueue order ('<ms>:<job id>'), or '' for none
  Output: {slot ms, now ms}, both Redis TIME
]]
${COMPARE_ENQUEUE_ORDER}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local grace = tonumber(ARGV[6])
local scope = redis.call('HMGET', KEYS[1], 'next', 'hold', 'last')
local nextFree = tonumber(scope[1]) or 0
-- A hold further off than any Retry-After we accept (left by an older version) counts as that far.
local hold = math.min(tonumber(scope[2]) or 0, now + ${MAX_RETRY_AFTER_MS})
local last = tonumber(scope[3]) or 0

local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. now)
if #dead > 0 then
  local reclaimed = 0
  for _, who in ipairs(dead) do
    local slot = tonumber(redis.call('ZSCORE', KEYS[2], who))
    if slot then
      -- A turn whose moment came may have been used: it still spaces the next call. A later one is free.
      if slot <= now then last = math.max(last, slot) else reclaimed = reclaimed + 1 end
      redis.call('ZREM', KEYS[2], who)
      redis.call('HDEL', KEYS[4], who)
    end
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. now)
  if reclaimed > 0 then
    -- Close the gaps: each later turn moves up (never back), in order, a pace after the one before it.
    local turns = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
    local before = last
    for i = 1, #turns, 2 do
      local slot = tonumber(turns[i + 1])
      if slot > now then
        local moved = math.min(slot, math.max(now, hold, before + interval))
        if moved < slot then redis.call('ZADD', KEYS[2], moved, turns[i]) end
        slot = moved
      end
      before = math.max(before, slot)
    end
    nextFree = math.min(nextFree, math.max(before + interval, nextFree - reclaimed * interval))
  end
end

local slot = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[7]))
if slot then
  -- A turn whose moment had come when a hold began (its call was in flight) goes first after it.
  slot = math.max(slot, hold)
else
  slot = math.max(now, hold, nextFree - (burst - 1) * interval)
  nextFree = math.max(nextFree, slot) + interval
  local order = ARGV[8]
  if order ~= '' then
    local waiting = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'WITHSCORES')
    for i = #waiting - 1, 1, -2 do
      local theirs = redis.call('HGET', KEYS[4], waiting[i])
      local earlier = tonumber(waiting[i + 1])
      if not theirs or earlier >= slot or compare_orders(theirs, 1, order) <= 0 then break end
      redis.call('ZADD', KEYS[2], slot, waiting[i])
      redis.call('ZADD', KEYS[3], 'GT', slot + grace, waiting[i])
      slot = earlier
    end
    redis.call('HSET', KEYS[4], ARGV[7], order)
  end
  redis.call('ZADD', KEYS[2], slot, ARGV[7])
end
local lease
if slot - now <= tonumber(ARGV[4]) then lease = slot + grace else lease = now + tonumber(ARGV[5]) + grace end
redis.call('ZADD', KEYS[3], lease, ARGV[7])
redis.call('HSET', KEYS[1], 'next', nextFree, 'last', last)
local ttl = math.max(nextFree, lease) - now + keep
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
return {slot, now}
`;

export const HOLD = `--[[
  Holds a scope until Slack's Retry-After has passed (a 429), and moves every turn already taken
  back by as much as the hold grew, and to no earlier than its end, keeping their order and the gap
  to the turn before (up to ARGV[4]). A turn whose moment had come (its call was in flight) goes first
  after the hold, and gets ARGV[3] to come back for it; the turn after it stays a pace behind it, and
  no live turn is left before the hold for a request enqueued earlier to take (TAKE_TURN). A turn whose
  moment and lease have both passed (its caller died) stays where it is, for the next take to reclaim.
  Input:  KEYS[1] scope hash, KEYS[2] turns, KEYS[3] leases, KEYS[4] enqueue orders;
          ARGV[1] Retry-After (ms; NaN counts as 0; clamped to 0..${MAX_RETRY_AFTER_MS} and made whole,
          so a value beyond reason neither holds the scope for years nor leaves it without a TTL),
          ARGV[2] how long the keys outlive their last slot (ms), ARGV[3] how long a caller in flight has to come back (ms),
          ARGV[4] interval between calls (ms)
  Output: {hold until ms, how much the hold grew ms (0 when another caller already held it as long)}
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local scope = redis.call('HMGET', KEYS[1], 'next', 'hold')
local nextFree = tonumber(scope[1]) or 0
local hold = math.min(tonumber(scope[2]) or 0, now + ${MAX_RETRY_AFTER_MS})
local asked = tonumber(ARGV[1]) or 0
if asked ~= asked then asked = 0 end -- NaN: no Retry-After worth the name
local retryAfter = math.floor(math.min(math.max(asked, 0), ${MAX_RETRY_AFTER_MS}))
local until_ = now + retryAfter
local from = math.max(hold, now)
if until_ <= from then return {hold, 0} end
local grew = until_ - from
local interval = tonumber(ARGV[4])
local turns = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
local before, movedBefore = nil, nil
for i = 1, #turns, 2 do
  local slot = tonumber(turns[i + 1])
  local lease = tonumber(redis.call('ZSCORE', KEYS[3], turns[i])) or now
  -- A turn whose moment and lease have both passed is a dead caller's: the next take reclaims it where it is.
  if slot > now or lease >= now then
    -- A turn in flight moved back by the hold alone would still be before its end (its slot had passed).
    local moved = math.max(slot + grew, until_)
    if before then moved = math.max(moved, movedBefore + math.min(slot - before, interval)) end
    redis.call('ZADD', KEYS[2], moved, turns[i])
    if slot <= now then redis.call('ZADD', KEYS[3], 'GT', now + tonumber(ARGV[3]), turns[i]) end
    before, movedBefore = slot, moved
  end
end
nextFree = math.max(nextFree + grew, until_)
if movedBefore then nextFree = math.max(nextFree, movedBefore + interval) end
redis.call('HSET', KEYS[1], 'next', nextFree, 'hold', until_)
local ttl = nextFree - now + tonumber(ARGV[2]) + tonumber(ARGV[3])
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
return {until_, grew}
`;

export const DROP_TURN = `--[[
  Gives up the caller's turn (its call went through, or failed for a reason other than a rate limit).
  A turn whose moment had come still spaces the next call: its slot is remembered as the last.
  Input:  KEYS[1] scope hash, KEYS[2] turns, KEYS[3] leases, KEYS[4] enqueue orders; ARGV[1] caller
  Output: 1 when there was one
]]
local slot = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
if not slot then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- (The keys expire together: no hash, nothing to remember, and no HSET that would leave one without a TTL.)
if slot <= now and redis.call('EXISTS', KEYS[1]) == 1 then
  local last = tonumber(redis.call('HGET', KEYS[1], 'last')) or 0
  if slot > last then redis.call('HSET', KEYS[1], 'last', slot) end
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
`;
