-- Makes a watched customer due now, or right after its running poll; wakes one worker.
-- KEYS: 1 schedule (zset customer -> due ms), 2 leases (hash customer -> token),
--       3 poked (set), 4 wake list
-- ARGV: 1 customer, 2 now ms
-- Returns: 1 poked, 0 the customer is not watched.
-- Atomic: the lease is read and the poke recorded in one step, so a poke that lands while
--   a poll runs is never lost (the poll's completion sees it) and never starts a second poll.
-- Needs: lease
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if token_expiry_ms(redis.call('HGET', KEYS[2], ARGV[1])) > tonumber(ARGV[2]) then
  redis.call('SADD', KEYS[3], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
redis.call('LPUSH', KEYS[4], '1')
redis.call('LTRIM', KEYS[4], 0, 63)
return 1
