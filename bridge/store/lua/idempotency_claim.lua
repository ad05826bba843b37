-- Claims an idempotency key with a pending record, or returns the record holding it.
-- KEYS: 1 the idempotency key
-- ARGV: 1 pending record json, 2 pending ttl ms
-- Returns: false when claimed now, else the record already there.
-- Atomic: get-or-set in one step, so of two concurrent requests with one key exactly one
--   runs and the other is told it is in flight.
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
