-- Forgets a subscription's queue when it is empty.
-- KEYS: 1 due queue (zset), 2 active subscriptions (set)
-- ARGV: 1 subscription id
-- Returns: 1 retired, 0 the queue is not empty (or was not active).
-- Atomic: the emptiness check and the removal are one step, so a delivery queued meanwhile
--   never sits in a queue no worker looks at.
if redis.call('ZCARD', KEYS[1]) == 0 then return redis.call('SREM', KEYS[2], ARGV[1]) end
return 0
