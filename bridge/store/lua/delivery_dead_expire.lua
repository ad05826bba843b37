-- Removes up to ARGV[2] dead letters of one subscription that became dead letters before ARGV[1].
-- KEYS: 1 dead letters (hash event -> dead letter), 2 dead-letter times (zset event -> ms)
-- ARGV: 1 cutoff ms (exclusive), 2 limit
-- Returns: how many were removed (the limit: call again).
-- Atomic: a dead letter and its time leave together, so none is left that retention no
--   longer sees, and one redelivered meanwhile (its time already gone) is not touched.
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
for _, item in ipairs(old) do
  redis.call('HDEL', KEYS[1], item)
  redis.call('ZREM', KEYS[2], item)
end
return #old
