/**
 * The Lua scripts behind the store: each is one atomic step, with its contract in its header
 * (as BullMQ's own commands are written). Keys are described in store.ts.
 */

import { COMPARE_ENQUEUE_ORDER } from './compare-orders-script.js';

/**
 * Lua: tombstone(binding, order, kind, json) is the small record an ended approval leaves for
 * DECISION_TOMBSTONE_SEC: `{"binding", "version", "decision" | "cancelled"}`, the ending's JSON kept
 * byte for byte (never decoded and encoded again, which could change its numbers).
 */
const TOMBSTONE = `
local function tombstone(binding, order, kind, json)
  return '{"binding":' .. cjson.encode(binding) .. ',"version":' .. cjson.encode(order) .. ',"' .. kind .. '":' .. json .. '}'
end
`;

export const CLAIM_CARD = `--[[
  Claims the right to post an approval's card: creates the approval if absent, or replaces a
  pending one bound to another snapshot or job hash (the old card is superseded). When the approval
  is gone but its tombstone stands, the request gets the ending instead. A claim that posts also
  answers the policy snapshot in force (read in the same step, for the card's stale warning).
  Input:  KEYS[1] approval hash, KEYS[2] post lease, KEYS[3] audit stream, KEYS[4] pending index,
          KEYS[5] tombstone, KEYS[6] policy snapshot key, KEYS[7] outbox
          ARGV[1] request JSON, ARGV[2] binding, ARGV[3] card id, ARGV[4] created_at (ms),
          ARGV[5] lease token, ARGV[6] lease ms, ARGV[7] how long a pending approval lives (s; 0: until
          it ends), ARGV[8] audit max length,
          ARGV[9] 'requested' audit entry, ARGV[10] 'superseded' audit entry (JSON field/value lists),
          ARGV[11] approval id, ARGV[12] the request's enqueue order ('<ms>:<job id>'),
          ARGV[13] the job preview ('' for none),
          ARGV[14] how far (ms) the enqueue time may be ahead of Redis's clock ('' for any)
  Output: {'future', Redis's clock (ms)}  the request was enqueued too far ahead of it: nothing changes
          {'claimed', card_id, created_at, ambiguous ('1' when an earlier attempt may have posted), supersedes, snapshot}
          {'superseded', card_id, created_at, old channel, old ts, old request JSON, old card id, snapshot}
                                       claimed, replacing an older pending card
          snapshot: the policy snapshot in force, false (nil) when none is set
          {'posted', channel, ts, supersedes}  the card exists
          supersedes: '' or the JSON {channel, ts, card_id, request} of an older pending card this
          approval replaced and that is not yet marked superseded (a crash came in between)
          A replaced cancelled card whose update is still owed is added to 'owed_cards' (a JSON list of
          {channel, ts, card_id, request, cancelled, binding, version}, carried over to every later replacement): the
          outbox drain updates each (see MARK_SETTLED), however many requests replace the step meanwhile.
          {'cancelled'}                the engine cancelled this approval
          {'decided', tombstone JSON}  decided long ago, under the same binding: its record is gone
          {'conflict'}                 decided already, under another snapshot or job hash
          {'outdated'}                 a request enqueued later for this step is in force
          {'busy', lease pttl}         another delivery holds the lease
]]
${COMPARE_ENQUEUE_ORDER}
redis.replicate_commands()
if ARGV[14] ~= '' then
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  if (tonumber(string.match(ARGV[12], '^%d+')) or 0) - now > tonumber(ARGV[14]) then return {'future', tostring(now)} end
end
local record, lease = KEYS[1], KEYS[2]
local function create(event)
  redis.call('HSET', record, 'request', ARGV[1], 'binding', ARGV[2], 'card_id', ARGV[3],
    'created_at', ARGV[4], 'post_started', '1', 'version', ARGV[12])
  if ARGV[13] ~= '' then redis.call('HSET', record, 'job_preview', ARGV[13]) end
  if tonumber(ARGV[7]) > 0 then redis.call('EXPIRE', record, ARGV[7]) end
  redis.call('SET', lease, ARGV[5], 'PX', ARGV[6])
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[11])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', unpack(cjson.decode(event)))
end
if redis.call('EXISTS', record) == 0 then
  local ended = redis.call('GET', KEYS[5])
  if ended then
    local was = cjson.decode(ended)
    if was.decision then
      if was.binding == ARGV[2] then return {'decided', ended} end
      return {'conflict'}
    end
    if was.binding == '' or was.binding == ARGV[2] then return {'cancelled'} end
    if compare_orders(was.version or '', 1, ARGV[12]) >= 0 then return {'outdated'} end
  end
  create(ARGV[9])
  return {'claimed', ARGV[3], ARGV[4], '0', '', redis.call('GET', KEYS[6])}
end
local fields = redis.call('HMGET', record, 'binding', 'ts', 'channel', 'card_id', 'created_at', 'post_started', 'decision', 'cancelled', 'request', 'version', 'supersedes', 'owed_cards')
-- A cancel for this request (or one that came before any request) stands.
if fields[8] and (not fields[1] or fields[1] == ARGV[2]) then return {'cancelled'} end
if fields[1] ~= ARGV[2] then
  if fields[7] then return {'conflict'} end
  -- Only a request enqueued later replaces one: a late retry of an older request changes nothing.
  if compare_orders(fields[10] or '', 1, ARGV[12]) >= 0 then return {'outdated'} end
  -- A cancelled card says so once its update is done; only a pending one is marked superseded. A
  -- cancelled card whose update is still owed (its ending in the outbox, unsettled) joins the cards
  -- owed their update, with its cancellation; those the replaced record owed are kept too (a step
  -- cancelled, asked for again and replaced again before the drain came), so the outbox updates each.
  local old_channel, old_ts = '', ''
  if not fields[8] then old_channel, old_ts = fields[3] or '', fields[2] or '' end
  local owed = fields[12] and cjson.decode(fields[12]) or {}
  if fields[8] and fields[2] and redis.call('ZSCORE', KEYS[7], ARGV[11]) and redis.call('HGET', record, 'settled') ~= '1' then
    table.insert(owed, {channel = fields[3] or '', ts = fields[2], card_id = fields[4] or '', request = fields[9] or '', cancelled = fields[8],
      binding = fields[1] or '', version = fields[10] or ''})
  end
  redis.call('DEL', record)
  create(ARGV[10])
  if old_ts ~= '' then
    redis.call('HSET', record, 'supersedes', cjson.encode({channel = old_channel, ts = old_ts, card_id = fields[4] or '', request = fields[9] or ''}))
  end
  if #owed > 0 then redis.call('HSET', record, 'owed_cards', cjson.encode(owed)) end
  return {'superseded', ARGV[3], ARGV[4], old_channel, old_ts, fields[9] or '', fields[4] or '', redis.call('GET', KEYS[6])}
end
if fields[2] then return {'posted', fields[3], fields[2], fields[11] or ''} end
local pttl = redis.call('PTTL', lease)
if pttl > 0 then return {'busy', tostring(pttl)} end
redis.call('HSET', record, 'post_started', '1')
redis.call('SET', lease, ARGV[5], 'PX', ARGV[6])
return {'claimed', fields[4], fields[5], fields[6] == '1' and '1' or '0', fields[11] or '', redis.call('GET', KEYS[6])}
`;

export const RENEW_LEASE = `--[[
  Extends the post lease while its holder is still talking to Slack.
  Input:  KEYS[1] post lease; ARGV[1] token, ARGV[2] lease ms
  Output: 1 when extended, 0 when the lease was lost (expired or taken over)
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

export const RELEASE_AFTER_FAILURE = `--[[
  Gives the lease back after a failed post so the next attempt (or a duplicate) can try.
  Input:  KEYS[1] approval hash, KEYS[2] post lease; ARGV[1] token,
          ARGV[2] '1' when Slack certainly did not post (the next attempt need not look for the card),
          ARGV[3] '1' to count this attempt as failed ('0' for a rate limit: a wait, not a failure)
  Output: the number of failed attempts so far
]]
if ARGV[2] == '1' then redis.call('HDEL', KEYS[1], 'post_started') end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[3] ~= '1' then return tonumber(redis.call('HGET', KEYS[1], 'post_failures') or '0') end
return redis.call('HINCRBY', KEYS[1], 'post_failures', 1)
`;

export const ABANDON = `--[[
  Forgets an approval whose card can never be posted as requested (say the bot is not in the
  channel), so the same request can be sent again once the cause is fixed. When it replaced
  cancelled cards still owed their update ('owed_cards', see CLAIM_CARD), the step goes back to the
  last of them, as its cancel left it (the others still owed with it), so the outbox updates them all
  and a late retry of that cancelled request still posts nothing. An approval that itself ended while
  its card was posted (cancelled, decided) brings nothing back: its tombstone must answer a retry of it,
  and a restored older record would let that retry replace it and post a live card for an ended step
  (the older card's update is then left undone; its buttons decide nothing).
  Input:  KEYS[1] approval hash, KEYS[2] post lease, KEYS[3] pending index; ARGV[1] token, ARGV[2] approval id,
          ARGV[3] retention s (how long the cancelled record it goes back to is kept)
  Output: 1 when forgotten, 0 when a card exists after all (then nothing changes)
]]
if redis.call('HEXISTS', KEYS[1], 'ts') == 1 then return 0 end
local fields = redis.call('HMGET', KEYS[1], 'owed_cards', 'created_at', 'cancelled', 'decision')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
local ended = fields[3] or fields[4]
local owed = (not ended and fields[1]) and cjson.decode(fields[1]) or {}
if #owed > 0 then
  local last = table.remove(owed)
  redis.call('HSET', KEYS[1], 'request', last.request, 'binding', last.binding or '', 'card_id', last.card_id, 'created_at', fields[2] or '0',
    'channel', last.channel, 'ts', last.ts, 'cancelled', last.cancelled, 'version', last.version or '')
  if #owed > 0 then redis.call('HSET', KEYS[1], 'owed_cards', cjson.encode(owed)) end
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return 1
`;

export const SAVE_CARD = `--[[
  Records where the approval's card was posted. The first card recorded wins. When the approval
  ended while its card was being posted (a cancel, a policy change), it goes to the outbox, so the
  new card is updated to show the ending; otherwise the card's timers are set in the same step
  (those of an earlier card of the approval are replaced), so a crash cannot leave a card without them.
  Input:  KEYS[1] approval hash, KEYS[2] post lease, KEYS[3] audit stream, KEYS[4] outbox, KEYS[5] due set
          ARGV[1] channel, ARGV[2] ts, ARGV[3] posted_at (ms), ARGV[4] token,
          ARGV[5] audit max length, ARGV[6] 'posted' audit entry (JSON field/value list),
          ARGV[7] the card id this card was rendered for, ARGV[8] approval id,
          ARGV[9] the card's timers to clear first (JSON list of due-set members),
          ARGV[10] the card's timers (JSON list of {member, due ms})
  Output: {'saved'}; {'saved', 'ended'} when the approval ended meanwhile (its ending is in the
          outbox: the caller settles it at once rather than leave the card's buttons to the drain);
          {'other', channel, ts} when another card was recorded first;
          {'missing'} when the approval no longer exists; {'replaced'} when a newer request replaced it
]]
local fields = redis.call('HMGET', KEYS[1], 'card_id', 'channel', 'ts', 'decision', 'cancelled')
if not fields[1] then return {'missing'} end
if fields[1] ~= ARGV[7] then return {'replaced'} end
if fields[3] and fields[3] ~= ARGV[2] then return {'other', fields[2], fields[3]} end
redis.call('HSET', KEYS[1], 'channel', ARGV[1], 'ts', ARGV[2], 'posted_at', ARGV[3])
redis.call('HDEL', KEYS[1], 'post_started')
if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', unpack(cjson.decode(ARGV[6])))
if fields[4] or fields[5] then
  redis.call('HDEL', KEYS[1], 'settled')
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[8])
  return {'saved', 'ended'}
end
redis.call('ZREM', KEYS[5], unpack(cjson.decode(ARGV[9])))
for _, timer in ipairs(cjson.decode(ARGV[10])) do redis.call('ZADD', KEYS[5], timer[2], timer[1]) end
return {'saved'}
`;

export const RECORD_CLICK = `--[[
  Records what a click decided (one more approval counted, or the decision), or an approval's expiry.
  A click's change is recorded only if nothing it was decided on has changed since it was read: the
  card is still current, the policy snapshot in force (or its absence) and the approvals counted are
  still those read, no decision was recorded first, and the approval has not expired by Redis's own
  clock (the script may run long after the click was decided: a Redis stall, a slow network). An
  expiry needs none of that: only that the approval is still pending on that card.
  Nothing at all is recorded once Redis's clock is past the caller's deadline (the interaction that
  asked for it has been answered already). A decision is queued in the outbox, and the card's timers removed, in the same step.
  In the same step, for a click: its 'clicked' entry is appended to the stream of clicks (while its
  user is within the refusal limit, as audit.ts's APPEND_CLICK does) whatever the outcome, except
  {'changed'} (decided again, with the entry) and {'too_late'}; and the settle lease of a decision
  recorded is taken for the caller, so it can push the decision without another round trip.
  Input:  KEYS[1] approval hash, KEYS[2] outbox, KEYS[3] policy snapshot key, KEYS[4] audit stream,
          KEYS[5] pending index, KEYS[6] stream of clicks, KEYS[7] the clicker's refusal counter,
          KEYS[8] settle lease, KEYS[9] due set
          ARGV[1] card id clicked, ARGV[2] 'vote', 'decision' or 'expiry' (the expired decision),
          ARGV[3] the votes JSON (vote) or the decision JSON (decision, expiry),
          ARGV[4] now (ms, the caller's clock: when it was decided), ARGV[5] retention s (from the decision),
          ARGV[6] snapshot in force as read ('' when missing), ARGV[7] '1' when the snapshot key was missing when read,
          ARGV[8] votes JSON as read ('' for none), ARGV[9] approval id, ARGV[10] audit max length,
          ARGV[11] audit entries (JSON list of field/value lists, appended in order),
          ARGV[12] expiry (ms since the epoch; '' for never), ARGV[13] deadline (ms since the epoch; '' for none),
          ARGV[14] the 'clicked' entry (JSON field/value list; '' for none), ARGV[15] the stream of clicks' max
          length, ARGV[16] refusals recorded per window, ARGV[17] settle lease token ('' to take none),
          ARGV[18] settle lease ms, ARGV[19…] the card's timers (due-set members), removed with a decision
  Output: {'recorded', '1' when the settle lease was taken else '0'}; {'counted'};
          {'decided', decision JSON} when a decision was recorded first;
          {'cancelled', cancellation JSON}; {'missing'}; {'superseded'} when the card is no longer current;
          {'changed'} when the snapshot in force or the votes changed since they were read (decide again);
          {'expired'} when a click's change comes at or after the expiry (nothing recorded: record the expiry);
          {'too_late'} when Redis's clock is past the deadline (nothing recorded)
]]
redis.replicate_commands()
local function note_click()
  if ARGV[14] == '' then return end
  if tonumber(redis.call('GET', KEYS[7]) or '0') + 1 <= tonumber(ARGV[16]) then
    redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[15], '*', unpack(cjson.decode(ARGV[14])))
  end
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if ARGV[13] ~= '' and now > tonumber(ARGV[13]) then return {'too_late'} end
if redis.call('EXISTS', KEYS[1]) == 0 then note_click() return {'missing'} end
local fields = redis.call('HMGET', KEYS[1], 'card_id', 'decision', 'votes', 'cancelled')
if fields[2] then note_click() return {'decided', fields[2]} end
if fields[4] then note_click() return {'cancelled', fields[4]} end
if fields[1] ~= ARGV[1] then note_click() return {'superseded'} end
if ARGV[2] ~= 'expiry' then
  if ARGV[12] ~= '' and now >= tonumber(ARGV[12]) then note_click() return {'expired'} end
  -- GET answers false for a missing key: "missing" is compared as such, never as a string.
  local snapshot = redis.call('GET', KEYS[3])
  if ARGV[7] == '1' then
    if snapshot then return {'changed'} end
  elseif snapshot ~= ARGV[6] then
    return {'changed'}
  end
  if (fields[3] or '') ~= ARGV[8] then return {'changed'} end
end
note_click()
if ARGV[2] == 'vote' then
  redis.call('HSET', KEYS[1], 'votes', ARGV[3])
else
  redis.call('HSET', KEYS[1], 'status', 'decided', 'decision', ARGV[3], 'decided_at', ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[9])
  redis.call('ZREM', KEYS[5], ARGV[9])
  -- A decided approval has no timers left to run (as with CANCEL).
  redis.call('ZREM', KEYS[9], unpack(ARGV, 19))
  -- Kept for the retention period from its decision (a pending one lives as its claim said).
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
for _, entry in ipairs(cjson.decode(ARGV[11])) do
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[10], '*', unpack(entry))
end
if ARGV[2] == 'vote' then return {'counted'} end
if ARGV[17] ~= '' and redis.call('SET', KEYS[8], ARGV[17], 'NX', 'PX', ARGV[18]) then return {'recorded', '1'} end
return {'recorded', '0'}
`;

export const MARK_DELIVERED = `--[[
  Notes that an approval's decision is on the resume queue (its card may still need updating), and
  leaves its tombstone: the decision outlives the record by that much, so a request for the step
  long after gets it again rather than a new card.
  Input:  KEYS[1] approval hash, KEYS[2] tombstone; ARGV[1] how long the tombstone stays (s)
  Output: 1
]]
${TOMBSTONE}
if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
redis.call('HSET', KEYS[1], 'delivered', '1')
local fields = redis.call('HMGET', KEYS[1], 'decision', 'binding', 'version')
if fields[1] then
  redis.call('SET', KEYS[2], tombstone(fields[2] or '', fields[3] or '', 'decision', fields[1]), 'EX', ARGV[1])
end
return 1
`;

export const CANCEL = `--[[
  Closes an approval the engine cancelled: no decision is pushed; its card is updated through the
  outbox. A cancel that comes before the request leaves a cancelled record, so the request posts
  nothing. Either way it leaves a tombstone; when the approval is gone, its tombstone answers.
  Its card's timers are removed.
  Input:  KEYS[1] approval hash, KEYS[2] outbox, KEYS[3] audit stream, KEYS[4] pending index,
          KEYS[5] tombstone, KEYS[6] due set
          ARGV[1] cancellation JSON, ARGV[2] now (ms), ARGV[3] retention s, ARGV[4] approval id,
          ARGV[5] audit max length, ARGV[6] 'cancelled' audit entry (JSON field/value list),
          ARGV[7] how long the tombstone stays (s), ARGV[8…] the card's timers (due-set members)
  Output: {'cancelled'}; {'decided', decision JSON} when it was decided first;
          {'ended', tombstone JSON} when it was decided long ago (its record is gone); {'already'}
]]
${TOMBSTONE}
local fields = redis.call('HMGET', KEYS[1], 'decision', 'cancelled', 'binding', 'version')
if fields[1] then return {'decided', fields[1]} end
if fields[2] then return {'already'} end
if redis.call('EXISTS', KEYS[1]) == 0 then
  local ended = redis.call('GET', KEYS[5])
  if ended then
    if cjson.decode(ended).decision then return {'ended', ended} end
    return {'already'}
  end
end
redis.call('HSET', KEYS[1], 'cancelled', ARGV[1])
redis.call('ZREM', KEYS[6], unpack(ARGV, 8))
if redis.call('HEXISTS', KEYS[1], 'created_at') == 0 then redis.call('HSET', KEYS[1], 'created_at', ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[4])
if redis.call('HEXISTS', KEYS[1], 'ts') == 1 then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4]) end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', unpack(cjson.decode(ARGV[6])))
redis.call('SET', KEYS[5], tombstone(fields[3] or '', fields[4] or '', 'cancelled', ARGV[1]), 'EX', ARGV[7])
return {'cancelled'}
`;

export const SET_POLICY = `--[[
  Sets the policy snapshot in force, unless a policy job enqueued later already set it (jobs may
  finish out of order when several run at once). The same job run again sets it again, so a retry
  goes on to end what the change makes stale.
  Input:  KEYS[1] policy snapshot key, KEYS[2] policy version key; ARGV[1] snapshot,
          ARGV[2] the job's enqueue order ('<ms>:<job id>')
  Output: 1 when set, 0 when a policy job enqueued later is in force
]]
${COMPARE_ENQUEUE_ORDER}
if compare_orders(redis.call('GET', KEYS[2]) or '', 1000, ARGV[2]) > 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
return 1
`;

export const CLAIM_NOTICE = `--[[
  Claims one notice to the requester (posted, or ended), so that retries, the outbox drain and
  other bot processes send it once. Never creates the approval's hash.
  Input:  KEYS[1] approval hash; ARGV[1] the notice's field
  Output: 1 when this caller sends it, 0 when it was sent (or the approval is gone)
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], ARGV[1], '1')
`;

export const CLAIM_ESCALATION = `--[[
  Claims the escalation of an approval's card while the approval is still pending on that card (the
  state is read here, in the same step as the claim, so an approval decided or cancelled meanwhile
  is never escalated). The claim is a lease (field escalating = '<card id>:<lease end ms>'): one
  caller at a time posts; a caller that dies before MARK_ESCALATED leaves it to be taken again when
  it ends, and so does one whose post failed (RELEASE_ESCALATION ends the lease at once). A claim
  taken after an earlier one ended is 'reclaimed': that caller looks for the earlier post first.
  Times are Redis's own (TIME), which all replicas share.
  Input:  KEYS[1] approval hash; ARGV[1] the card id, ARGV[2] lease (ms)
  Output: {'claimed'} or {'reclaimed'} when this caller posts the escalation; {'done'} when it was
          posted; {'busy', lease end ms} while another caller holds it; {'ended'} when the approval
          is gone, decided, cancelled or on another card
]]
redis.replicate_commands()
local fields = redis.call('HMGET', KEYS[1], 'card_id', 'decision', 'cancelled', 'escalated', 'escalating')
if fields[1] ~= ARGV[1] or fields[2] or fields[3] then return {'ended'} end
if fields[4] == ARGV[1] then return {'done'} end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local reclaimed = false
if fields[5] then
  local sep = string.find(fields[5], ':', 1, true)
  if string.sub(fields[5], 1, sep - 1) == ARGV[1] then
    local lease_end = tonumber(string.sub(fields[5], sep + 1))
    if lease_end > now then return {'busy', tostring(lease_end)} end
    reclaimed = true
  end
end
redis.call('HSET', KEYS[1], 'escalating', ARGV[1] .. ':' .. tostring(now + tonumber(ARGV[2])))
return {reclaimed and 'reclaimed' or 'claimed'}
`;

export const MARK_ESCALATED = `--[[
  Notes that the card's escalation is posted (or was found posted): it is never claimed again.
  Input:  KEYS[1] approval hash; ARGV[1] the card id
  Output: 1, or 0 when the approval is gone
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'escalated', ARGV[1])
redis.call('HDEL', KEYS[1], 'escalating')
return 1
`;

export const RELEASE_ESCALATION = `--[[
  Ends a claimed escalation's lease at once after its post failed, so a retry claims it again (as
  'reclaimed': the failed post may have been carried out).
  Input:  KEYS[1] approval hash; ARGV[1] the card id
  Output: 1 when released, 0 when the claim was not this card's
]]
local held = redis.call('HGET', KEYS[1], 'escalating')
if not held or string.sub(held, 1, #ARGV[1] + 1) ~= ARGV[1] .. ':' then return 0 end
redis.call('HSET', KEYS[1], 'escalating', ARGV[1] .. ':0')
return 1
`;
