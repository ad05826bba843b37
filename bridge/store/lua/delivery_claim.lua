-- Leases up to ARGV[3] due deliveries of one subscription to one worker, with their bytes.
-- KEYS: 1 due queue (zset event -> due ms), 2 leases (hash event -> token),
--       3 delivery states (hash event -> state json), 4 stream
-- ARGV: 1 now ms, 2 lease ms, 3 limit, 4 worker id
-- Returns: per claimed delivery {event id, lease token, state json, event bytes or false}.
-- Atomic: a delivery whose lease is still running is skipped, never shared, so a receiver
--   is never sent one event twice at once; the due time moves to the lease's expiry, so
--   the delivery of a worker that died is due again by itself. A due entry without a
--   state (settled meanwhile) is dropped.
-- Needs: lease
local now = tonumber(ARGV[1])
local expiry = now + tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[3])
local claimed = {}
for _, item in ipairs(due) do
  local held_until = token_expiry_ms(redis.call('HGET', KEYS[2], item))
  local state = redis.call('HGET', KEYS[3], item)
  if held_until <= now and state then
    local token = make_token(ARGV[4], expiry)
    redis.call('HSET', KEYS[2], item, token)
    redis.call('ZADD', KEYS[1], expiry, item)
    local body = false
    local entry = cjson.decode(state)['entry']
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
  elseif not state then
    redis.call('ZREM', KEYS[1], item)
  end
end
return claimed
