-- Appending events to the stream exactly once, for the scripts that write events.

-- Appends the events whose index key does not exist yet, then trims the stream. Events are
-- ARGV[first_arg..] in fours (event id, type, customer id or '', envelope json), their index
-- keys (event id -> entry id) KEYS[first_key..] in the same order. Returns how many were new.
local function append_new_events(stream, first_key, first_arg, minid, maxlen, index_ttl_ms)
  local added = 0
  for i = 0, (#ARGV - first_arg + 1) / 4 - 1 do
    local base = first_arg + 4 * i
    local index = KEYS[first_key + i]
    if redis.call('EXISTS', index) == 0 then
      local entry = redis.call('XADD', stream, 'MINID', '~', minid, '*',
        'id', ARGV[base], 'type', ARGV[base + 1], 'customerId', ARGV[base + 2],
        'event', ARGV[base + 3])
      redis.call('SET', index, entry, 'PX', index_ttl_ms)
      added = added + 1
    end
  end
  redis.call('XTRIM', stream, 'MAXLEN', '~', maxlen)
  return added
end

