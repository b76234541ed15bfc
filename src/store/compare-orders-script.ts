/**
 * Lua: compare_orders(a, a_scale, b) compares two enqueue orders (see src/domain/enqueue-order.ts):
 * -1, 0 or 1 as `a` was enqueued before, with or after `b`. Milliseconds compare as numbers (exact:
 * far below 2^53); job ids in natural order, runs of digits as the integers they are whatever their
 * length (no floating point), anything else byte by byte, because Lua's own `<` on strings follows
 * the server's locale. An order written before ids were kept is a number alone: the enqueue time
 * times `a_scale` (1 for requests; 1000 for policy jobs, which added the id's last three digits);
 * it comes first within its millisecond, its id being unknown.
 */
export const COMPARE_ENQUEUE_ORDER = `
local function compare_bytes(a, b)
  for k = 1, math.min(#a, #b) do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then return x < y and -1 or 1 end
  end
  if #a == #b then return 0 end
  return #a < #b and -1 or 1
end
local function compare_ids(a, b)
  local i, j = 1, 1
  while i <= #a and j <= #b do
    local _, a_end = string.find(a, '^%d+', i)
    local _, b_end = string.find(b, '^%d+', j)
    if a_end and b_end then
      local x = (string.gsub(string.sub(a, i, a_end), '^0+', ''))
      local y = (string.gsub(string.sub(b, j, b_end), '^0+', ''))
      if #x ~= #y then return #x < #y and -1 or 1 end
      local c = compare_bytes(x, y)
      if c ~= 0 then return c end
      i, j = a_end + 1, b_end + 1
    else
      local x, y = string.byte(a, i), string.byte(b, j)
      if x ~= y then return x < y and -1 or 1 end
      i, j = i + 1, j + 1
    end
  end
  if i <= #a then return 1 end
  if j <= #b then return -1 end
  -- Equal as numbers ('7' and '007'): the bytes decide, so two ids never tie.
  return compare_bytes(a, b)
end
local function parse_order(order, scale)
  local sep = string.find(order, ':', 1, true)
  if not sep then return math.floor((tonumber(order) or 0) / scale), nil end
  return tonumber(string.sub(order, 1, sep - 1)) or 0, string.sub(order, sep + 1)
end
local function compare_orders(a, a_scale, b)
  local a_ms, a_id = parse_order(a, a_scale)
  local b_ms, b_id = parse_order(b, 1)
  if a_ms ~= b_ms then return a_ms < b_ms and -1 or 1 end
  if a_id == nil or b_id == nil then
    if a_id == b_id then return 0 end
    return a_id == nil and -1 or 1
  end
  return compare_ids(a_id, b_id)
end
`;
