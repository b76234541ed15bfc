/**
 * The Lua scripts behind the click inbox (inbox.ts): each is one atomic step, with its contract in
 * its header. A delivery of an entry is the consumer holding it and the entry's delivery count when
 * it got it: a delivery that another claim replaced can neither answer nor finish the entry.
 * Scripts that read a stream through a consumer group start with `redis.replicate_commands()`:
 * Redis 6.2 refuses writes after such reads otherwise (harmless on 7).
 */

/** Lua: whether the entry ARGV[3] is pending for consumer ARGV[2] in delivery ARGV[4] (group ARGV[1], stream KEYS[1]). */
const HOLDS = `
local function holds(delivery)
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)[1]
  return pending ~= nil and pending[2] == ARGV[2] and pending[4] == tonumber(delivery)
end
`;

export const ACCEPT_CLICK = `--[[
  Accepts a click before it is acknowledged to Slack: remembers its request (a request accepted
  before is refused) and appends the click to the inbox, pending for this process's consumer
  (delivery 1), in one step.
  Input:  KEYS[1] inbox stream, KEYS[2] the request's memory key
          ARGV[1] how long the request is remembered (s), ARGV[2] consumer group, ARGV[3] this consumer,
          ARGV[4] the click (JSON field/value list)
  Output: {'accepted', entry id}; {'replayed'} when the request was accepted before (nothing appended)
]]
redis.replicate_commands()
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return {'replayed'} end
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[2], '0', 'MKSTREAM')
local id = redis.call('XADD', KEYS[1], '*', unpack(cjson.decode(ARGV[4])))
-- Every entry is read into its appender's pending list in the step that appends it: '>' yields this one.
redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'STREAMS', KEYS[1], '>')
return {'accepted', id}
`;

export const CONFIRM_CLICK = `--[[
  Confirms that the process which accepted a click acknowledged it to Slack in time: from now on
  the entry may be processed. Only in its first delivery (once a drain claimed it, the drain
  discards it instead). Resets the entry's idle time.
  Input:  KEYS[1] inbox stream, KEYS[2] state hash; ARGV[1] group, ARGV[2] this consumer, ARGV[3] entry id
  Output: 1 when confirmed, 0 when the entry is no longer in its first delivery with this consumer
]]${HOLDS}
if not holds(1) then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
redis.call('HSET', KEYS[2], ARGV[3], 'confirmed')
return 1
`;

export const RENEW_CLICK = `--[[
  Keeps an entry being processed from looking abandoned: resets its idle time.
  Input:  KEYS[1] inbox stream; ARGV[1] group, ARGV[2] this consumer, ARGV[3] entry id, ARGV[4] delivery
  Output: 1 when renewed, 0 when this delivery no longer holds the entry
]]${HOLDS}
if not holds(ARGV[4]) then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
`;

export const ANSWER_CLICK = `--[[
  Records the answer a delivery is about to send the clicker: from now on the click is never
  processed again, and a later delivery only sends this answer again. Only by the delivery holding
  a confirmed entry. Resets the entry's idle time.
  Input:  KEYS[1] inbox stream, KEYS[2] state hash
          ARGV[1] group, ARGV[2] this consumer, ARGV[3] entry id, ARGV[4] delivery, ARGV[5] the answer's text
  Output: 1 when recorded (send it), 0 when this delivery no longer holds the entry (say nothing)
]]${HOLDS}
if not holds(ARGV[4]) or not redis.call('HGET', KEYS[2], ARGV[3]) then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
redis.call('HSET', KEYS[2], ARGV[3], 'answer:' .. ARGV[5])
return 1
`;

export const FINISH_CLICK = `--[[
  Ends an entry, processed, answered or discarded: acknowledged in the group, deleted from the
  stream, its state forgotten. Only by the delivery holding it.
  Input:  KEYS[1] inbox stream, KEYS[2] state hash; ARGV[1] group, ARGV[2] this consumer, ARGV[3] entry id, ARGV[4] delivery
  Output: 1 when finished, 0 when this delivery no longer holds the entry (the one that does finishes it)
]]${HOLDS}
if not holds(ARGV[4]) then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
redis.call('HDEL', KEYS[2], ARGV[3])
return 1
`;

export const CLAIM_IDLE_CLICKS = `--[[
  Claims for this consumer the entries left pending longer than the idle time (the process holding
  them died, or stalled, before it finished them): a new delivery of each.
  Input:  KEYS[1] inbox stream, KEYS[2] state hash
          ARGV[1] group, ARGV[2] this consumer, ARGV[3] minimum idle time (ms), ARGV[4] at most this many
  Output: a list of {entry id, fields (field/value list), delivery, state ('' when never confirmed,
          'confirmed', or 'answer:<text>')}
]]
redis.replicate_commands()
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', ARGV[4])
local found = {}
for _, entry in ipairs(claimed[2]) do
  local id = entry[1]
  if entry[2] then
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
    found[#found + 1] = {id, entry[2], pending[1][4], redis.call('HGET', KEYS[2], id) or ''}
  else
    -- Redis 6.2 returns an entry deleted while pending without fields: nothing left to do.
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('HDEL', KEYS[2], id)
  end
end
-- Redis 7 lists entries deleted while pending apart (and drops them from the pending list itself).
for _, id in ipairs(claimed[3] or {}) do redis.call('HDEL', KEYS[2], id) end
return found
`;

export const FORGET_IDLE_CONSUMERS = `--[[
  Removes the consumers of processes that ended: nothing pending and not seen for the idle time. In
  one step, so that none gains an entry between the check and the removal (which would drop it).
  Input:  KEYS[1] inbox stream; ARGV[1] group, ARGV[2] idle time (ms), ARGV[3] this consumer (kept)
  Output: how many were removed
]]
redis.replicate_commands()
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local removed = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  if info.name ~= ARGV[3] and info.pending == 0 and info.idle > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info.name)
    removed = removed + 1
  end
end
return removed
`;
