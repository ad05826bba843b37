-- Creates the deliveries of a batch of stream entries and acknowledges the entries.
-- KEYS: 1 stream, 2 active subscriptions (set), then for each subscription k = 1..S of the
--       batch: 1 + 2k its due queue (zset), 2 + 2k its delivery states (hash)
-- ARGV: 1 consumer group, 2 due ms, 3 S, 4..3+S the subscription ids, then per entry:
--       entry id, event id, state json, n, and the n subscription numbers (1..S) that want it
-- Returns: 1.
-- Atomic: an entry is acknowledged exactly when its deliveries exist, so a crash leaves it
--   pending for the group (claimed again) and a repeat adds nothing (HSETNX).
local subscriptions = tonumber(ARGV[3])
local i = 4 + subscriptions
while i <= #ARGV do
  local entry, event, state, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  for j = 1, n do
    local k = tonumber(ARGV[i + 3 + j])
    if redis.call('HSETNX', KEYS[2 + 2 * k], event, state) == 1 then
      redis.call('ZADD', KEYS[1 + 2 * k], ARGV[2], event)
    end
  end
  redis.call('XACK', KEYS[1], ARGV[1], entry)
  i = i + 4 + n
end
for k = 1, subscriptions do redis.call('SADD', KEYS[2], ARGV[3 + k]) end
return 1
