-- Appends events that were never appended before (their index key is the record of that).
-- KEYS: 1 stream, 2.. one index key (event id -> entry id) per event
-- ARGV: 1 MINID (oldest entry id kept), 2 MAXLEN, 3 index ttl ms,
--       then per event 4 values: event id, type, customer id ('' for none), envelope json
-- Returns: how many events were new.
-- Atomic: the index check, the append and the index write are one step, so an event
--   appended twice (a retry, two writers) is in the stream once.
local added = 0
local n = (#ARGV - 3) / 4
for i = 0, n - 1 do
  local base = 4 + 4 * i
  local index = KEYS[2 + i]
  if redis.call('EXISTS', index) == 0 then
    local entry = redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[1], '*',
      'id', ARGV[base], 'type', ARGV[base + 1], 'customerId', ARGV[base + 2],
      'event', ARGV[base + 3])
    redis.call('SET', index, entry, 'PX', ARGV[3])
    added = added + 1
  end
end
redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[2])
return added
