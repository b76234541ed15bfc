/**
 * The Lua scripts by which one settler at a time (a click, a timer, a drain on any replica) settles
 * an ending from the outbox. Keys are described in store.ts.
 */

export const CLAIM_SETTLE = `--[[
  Claims the right to settle an ending (push its decision, update its card), for a lease: one
  settler at a time, across replicas. Only while the ending is in the outbox (not settled yet).
  Input:  KEYS[1] outbox, KEYS[2] settle lease, KEYS[3] approval hash
          ARGV[1] approval id, ARGV[2] lease token, ARGV[3] lease ms
  Output: {'claimed', '1' when the decision is already on the resume queue else '0'};
          {'busy'} when another settler holds the lease; {'settled'} when nothing is left to settle
]]
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {'settled'} end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return {'busy'} end
return {'claimed', redis.call('HGET', KEYS[3], 'delivered') == '1' and '1' or '0'}
`;

export const RELEASE_SETTLE = `--[[
  Gives the settle lease back (settled, or failed for now and left to the drain).
  Input:  KEYS[1] settle lease; ARGV[1] lease token
  Output: 1 when released, 0 when it was no longer held with this token
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
