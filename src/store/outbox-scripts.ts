/**
 * The Lua scripts by which one settler at a time (a click, a timer, a drain on any replica) settles
 * an ending from the outbox. Keys are described in store.ts.
 */

/**
 * Lua: owed_card(raw, card_id) finds card `card_id` among the replaced cancelled cards still owed
 * their update (the record's 'owed_cards', see CLAIM_CARD): its index in the decoded list, or nil,
 * and the list (empty when there is none).
 */
const OWED_CARD = `
local function owed_card(raw, card_id)
  local list = raw and cjson.decode(raw) or {}
  for i, card in ipairs(list) do
    if card.card_id == card_id then return i, list end
  end
  return nil, list
end
`;

export const CLAIM_SETTLE = `--[[
  Claims the right to settle one card's ending (push its decision, update the card), for a lease:
  one settler at a time, across replicas. The ending is the approval's own while the record is bound
  to that card, or the cancellation of an older card the approval replaced (one of its 'owed_cards',
  kept while its update is still owed). Only while the ending is in the outbox and not settled yet. The
  lease key is the card's, so an older card's settle never holds up a newer one's.
  Input:  KEYS[1] outbox, KEYS[2] settle lease (of this card), KEYS[3] approval hash
          ARGV[1] approval id, ARGV[2] lease token, ARGV[3] lease ms, ARGV[4] card id
  Output: {'claimed', '1' when the decision is already on the resume queue (or there is none to push) else '0'};
          {'busy'} when another settler holds the lease; {'settled'} when nothing is left to settle for this card
]]
${OWED_CARD}
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {'settled'} end
local delivered = '0'
if redis.call('EXISTS', KEYS[3]) == 1 then
  local fields = redis.call('HMGET', KEYS[3], 'card_id', 'decision', 'cancelled', 'settled', 'delivered', 'owed_cards')
  if fields[1] == ARGV[4] then
    if not (fields[2] or fields[3]) or fields[4] == '1' then return {'settled'} end
    delivered = fields[5] == '1' and '1' or '0'
  else
    if not owed_card(fields[6], ARGV[4]) then return {'settled'} end
    delivered = '1'
  end
end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return {'busy'} end
return {'claimed', delivered}
`;

export const MARK_SETTLED = `--[[
  Notes that everything one card's ending sets off is done: delivered, and the card updated. Only
  that card's ending is marked: the record's own while it is bound to the card, else that of the
  older cancelled card it replaced (taken off 'owed_cards'). The outbox entry goes once none is left
  owed, so a settle of an older ending never marks or removes a newer one's. The record's own ending
  is marked only if the settler showed it on the message recorded now: an ending settled before its
  card was recorded (a policy change or a cancel while the card was posted) is still owed once
  SAVE_CARD recorded it meanwhile.
  Input:  KEYS[1] approval hash, KEYS[2] outbox; ARGV[1] approval id, ARGV[2] card id,
          ARGV[3] the ts of the message the settler updated ('' when it knew of none)
  Output: 1 when the record's own ending was marked, 2 when an older card's, 0 when neither (replaced
          meanwhile, or a card recorded since that the settler did not update)
]]
${OWED_CARD}
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
local fields = redis.call('HMGET', KEYS[1], 'card_id', 'decision', 'cancelled', 'settled', 'owed_cards', 'ts')
local index, owed = owed_card(fields[5], ARGV[2])
local own_owed = (fields[2] or fields[3]) and fields[4] ~= '1'
local marked = 0
if fields[1] == ARGV[2] then
  if (fields[6] or '') ~= ARGV[3] then return 0 end
  redis.call('HSET', KEYS[1], 'settled', '1')
  own_owed, marked = false, 1
elseif index then
  table.remove(owed, index)
  if #owed == 0 then redis.call('HDEL', KEYS[1], 'owed_cards') else redis.call('HSET', KEYS[1], 'owed_cards', cjson.encode(owed)) end
  marked = 2
end
if marked > 0 and not own_owed and #owed == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
return marked
`;

export const FORGET_SETTLED = `--[[
  Removes an approval from the outbox once nothing is owed there: the drain read the record, found
  nothing to settle, and removes the entry only if that still holds now (an ending recorded since
  its read keeps it, so it is settled by its own settle or the next drain).
  Input:  KEYS[1] approval hash, KEYS[2] outbox; ARGV[1] approval id
  Output: 1 when removed, 0 when an ending is owed
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  local fields = redis.call('HMGET', KEYS[1], 'decision', 'cancelled', 'settled', 'owed_cards')
  local own_owed = (fields[1] or fields[2]) and fields[3] ~= '1'
  if own_owed or fields[4] then return 0 end
end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`;

export const RELEASE_SETTLE = `--[[
  Gives the settle lease back (settled, or failed for now and left to the drain).
  Input:  KEYS[1] settle lease; ARGV[1] lease token
  Output: 1 when released, 0 when it was no longer held with this token
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export const CLEAR_SUPERSEDED = `--[[
  Forgets the older card an approval replaced once it is marked superseded: only that card, since a
  newer request may have replaced the approval again meanwhile, leaving another card to be marked.
  (A replaced cancelled card whose update is still owed is not here but in 'owed_cards'.)
  Input:  KEYS[1] approval hash; ARGV[1] the card id of the card marked
  Output: 1 when forgotten, 0 when there was none or it is another card
]]
local raw = redis.call('HGET', KEYS[1], 'supersedes')
if not raw or cjson.decode(raw).card_id ~= ARGV[1] then return 0 end
return redis.call('HDEL', KEYS[1], 'supersedes')
`;
