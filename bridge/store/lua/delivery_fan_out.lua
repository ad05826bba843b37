-- Creates the deliveries of a batch of stream entries and acknowledges the entries.
-- KEYS: 1 stream, 2 active subscriptions (set), then for each subscription k = 1..S of the
--       batch: 1 + 2k its due queue (zset), 2 + 2k its delivery states (hash); then the
--       customer lines (lists) of ordered subscriptions that the batch joins
-- ARGV: 1 consumer group, 2 due ms, 3 S, 4..3+S the subscription ids, then per entry:
--       entry id, event id, state json, lined state json, n, and n pairs: the number (1..S)
--       of a subscription that wants it, the number in KEYS of its line there (0: none)
-- Returns: 1.
-- Atomic: an entry is acknowledged exactly when its deliveries exist, so a crash leaves it
--   pending for the group (claimed again) and a repeat adds nothing (HSETNX); a delivery
--   joins its customer's line in the same step, so the line's order is the stream's.
-- Needs: line
local subscriptions = tonumber(ARGV[3])
local i = 4 + subscriptions
while i <= #ARGV do
  local entry, event, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 4])
  for j = 1, n do
    local k, line = tonumber(ARGV[i + 3 + 2 * j]), tonumber(ARGV[i + 4 + 2 * j])
    local due, states = KEYS[1 + 2 * k], KEYS[2 + 2 * k]
    if line == 0 then
      if redis.call('HSETNX', states, event, ARGV[i + 2]) == 1 then
        redis.call('ZADD', due, ARGV[2], event)
      end
    elseif redis.call('HSETNX', states, event, ARGV[i + 3]) == 1 then
      join_line(KEYS[line], due, event, ARGV[2])
    end
  end
  redis.call('XACK', KEYS[1], ARGV[1], entry)
  i = i + 5 + 2 * n
end
for k = 1, subscriptions do redis.call('SADD', KEYS[2], ARGV[3 + k]) end
return 1
