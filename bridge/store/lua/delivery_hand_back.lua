-- Hands a delivery back unsent (a stopping worker, a lease too short to send under).
-- KEYS: 1 due queue (zset), 2 leases (hash)
-- ARGV: 1 event id, 2 lease token, 3 due ms
-- Returns: 1 handed back, 0 the lease was no longer this worker's.
-- Atomic: the lease ends and the delivery is due at ARGV[3] in one step, only while the
--   lease is this worker's, and without counting an attempt.
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
return 1
