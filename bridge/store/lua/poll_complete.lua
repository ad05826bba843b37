-- Ends a poll's lease and sets when the customer is due next, with its cadence.
-- KEYS: 1 schedule (zset customer -> due ms), 2 leases (hash customer -> token),
--       3 poked (set), 4 poll state (hash customer -> cadence json)
-- ARGV: 1 customer, 2 lease token, 3 next due ms, 4 now ms, 5 cadence json
-- Returns: 1 done, 0 the lease was no longer this worker's (nothing written).
-- Atomic: writes only while the lease is still this worker's; a customer poked during its
--   poll is due again at once, and one unwatched meanwhile stays unwatched.
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
local due = ARGV[3]
if redis.call('SREM', KEYS[3], ARGV[1]) == 1 then due = ARGV[4] end
redis.call('ZADD', KEYS[1], 'XX', due, ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then redis.call('HSET', KEYS[4], ARGV[1], ARGV[5]) end
return 1
