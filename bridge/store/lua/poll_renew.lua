-- Extends a running poll's lease to now + lease and moves the due time with it.
-- KEYS: 1 schedule (zset customer -> due ms), 2 leases (hash customer -> token)
-- ARGV: 1 customer, 2 token held, 3 now ms, 4 lease ms, 5 worker id
-- Returns: the new token, or nil when the lease is no longer this worker's or has run out.
-- Atomic: renewed only while the lease is this worker's and still running: a lapsed lease
--   belongs to whoever claims the customer next (a poke may already have made it due).
-- Needs: lease
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held ~= ARGV[2] then return false end
local now = tonumber(ARGV[3])
if token_expiry_ms(held) <= now then return false end
local expiry = now + tonumber(ARGV[4])
local token = make_token(ARGV[5], expiry)
redis.call('HSET', KEYS[2], ARGV[1], token)
redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[1])
return token
