-- Queues a delivery again (replay, redeliver, a test event); one already waiting is left alone.
-- KEYS: 1 due queue (zset), 2 delivery states (hash), 3 dead letters (hash),
--       4 active subscriptions (set), 5 dead-letter times (zset), 6 leases (hash),
--       7 (ordered subscriptions only) the customer's line (sorted set of places)
-- ARGV: 1 event id, 2 state json, 3 due ms, 4 subscription id, 5 its place in the line
--       (ordered subscriptions only)
-- Returns: 1 queued, 0 already waiting.
-- Atomic: the state, the due entry (or the place in the line), the dead letter's removal
--   and the active mark change together, so a delivery is never due without its state nor
--   both due and dead.
-- Needs: lease, line
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if KEYS[7] then
  local function in_flight(item)
    return token_expiry_ms(redis.call('HGET', KEYS[6], item)) > tonumber(ARGV[3])
  end
  join_line(KEYS[7], KEYS[1], ARGV[5], ARGV[1], ARGV[3], in_flight)
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[4])
return 1
