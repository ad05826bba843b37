-- Leases up to ARGV[3] due deliveries of one subscription to one worker, with their bytes.
-- KEYS: 1 due queue (zset event -> due ms), 2 leases (hash event -> token),
--       3 delivery states (hash event -> state json), 4 stream
-- ARGV: 1 now ms, 2 lease ms, 3 limit, 4 worker id, 5 the dispatcher's consumer group
-- Returns: per claimed delivery {event id, lease token, state json, event bytes or false}.
-- Atomic: a delivery whose lease is still running is skipped, never shared, so a receiver
--   is never sent one event twice at once; the due time moves to the lease's expiry, so
--   the delivery of a worker that died is due again by itself. A due entry without a
--   state (settled meanwhile) is dropped. The first of a customer's line waits while an
--   earlier stream entry of that customer is read by the group but not yet fanned out (a
--   slower or dead consumer's batch), so it never goes before an event that will join the
--   line in front of it; meanwhile it is due again a moment later, so it does not hold
--   the deliveries behind it in the due queue back.
-- Needs: lease, line
local now = tonumber(ARGV[1])
local expiry = now + tonumber(ARGV[2])
local PENDING = 1000
local WAIT_MS = 250 -- a line's first that must wait is looked at again this much later

-- The group's entries read but not fanned out, oldest first, {id, customer or false}.
local pending = false
local function earlier_pending(entry, customer)
  if not pending then
    pending = {}
    for _, p in ipairs(redis.call('XPENDING', KEYS[4], ARGV[5], '-', '+', PENDING)) do
      table.insert(pending, {p[1], false})
    end
  end
  for _, p in ipairs(pending) do
    if not entry_before(p[1], entry) then return false end
    if not p[2] then
      p[2] = ''
      local found = redis.call('XRANGE', KEYS[4], p[1], p[1])[1]
      if found then
        for f = 1, #found[2], 2 do
          if found[2][f] == 'customerId' then p[2] = found[2][f + 1] end
        end
      end
    end
    if p[2] == customer then return true end
  end
  return #pending >= PENDING -- more pending than looked at: wait to be sure
end

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[3])
local claimed = {}
for _, item in ipairs(due) do
  local held_until = token_expiry_ms(redis.call('HGET', KEYS[2], item))
  local state = redis.call('HGET', KEYS[3], item)
  local decoded = state and cjson.decode(state)
  local entry = decoded and decoded['entry']
  if type(entry) ~= 'string' then entry = false end
  local line = decoded and decoded['line']
  local claimable = held_until <= now and state
  local waits = claimable and type(line) == 'string' and entry and earlier_pending(entry, line)
  if claimable and not waits then
    local token = make_token(ARGV[4], expiry)
    redis.call('HSET', KEYS[2], item, token)
    redis.call('ZADD', KEYS[1], expiry, item)
    local body = false
    if entry then
      local found = redis.call('XRANGE', KEYS[4], entry, entry)
      if found[1] then
        local fields = found[1][2]
        for f = 1, #fields, 2 do
          if fields[f] == 'event' then body = fields[f + 1] end
        end
      end
    end
    table.insert(claimed, {item, token, state, body})
  elseif waits then
    redis.call('ZADD', KEYS[1], 'XX', now + WAIT_MS, item)
  elseif not state then
    redis.call('ZREM', KEYS[1], item)
  end
end
return claimed
