-- Leases up to ARGV[3] customers due for a poll to one worker, until now + lease.
-- KEYS: 1 schedule (zset customer -> due ms), 2 leases (hash customer -> token),
--       3 poked (set of customers poked during their poll)
-- ARGV: 1 now ms, 2 lease ms, 3 limit, 4 worker id
-- Returns: customer, lease token, due ms of each claimed customer, flattened.
-- Atomic: a customer whose lease has not run out is skipped, never shared, so concurrent
--   workers never poll one customer at once; the due time moves to the lease's expiry, so
--   the customer of a worker that died is due again by itself. Claiming consumes a poke.
-- Needs: lease
local now = tonumber(ARGV[1])
local expiry = now + tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, ARGV[3])
local claimed = {}
for i = 1, #due, 2 do
  local item = due[i]
  if token_expiry_ms(redis.call('HGET', KEYS[2], item)) <= now then
    local token = make_token(ARGV[4], expiry)
    redis.call('HSET', KEYS[2], item, token)
    redis.call('ZADD', KEYS[1], expiry, item)
    redis.call('SREM', KEYS[3], item)
    table.insert(claimed, item)
    table.insert(claimed, token)
    table.insert(claimed, due[i + 1])
  end
end
return claimed
