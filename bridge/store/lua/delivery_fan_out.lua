-- Creates the deliveries of a batch of stream entries and acknowledges the entries.
-- KEYS: 1 stream, 2 active subscriptions (set), then for each subscription k = 1..S of the
--       batch: 1 + 2k its due queue (zset), 2 + 2k its delivery states (hash); then the
--       customer lines (lists) of ordered subscriptions that the batch joins
-- ARGV: 1 consumer group, 2 due ms, 3 S, 4..3+S the subscription ids, then per entry:
--       entry id, event id, state json, lined state json, its place in a line, n, and n
--       pairs: the number (1..S) of a subscription that wants it, the number in KEYS of its
--       line there (0: none)
-- Returns: 1.
-- Atomic: an entry is acknowledged exactly when its deliveries exist, so a crash leaves it
--   pending for the group (claimed again) and a repeat adds nothing (HSETNX); a delivery
--   joins its customer's line at its place in the same step.
-- Needs: line
local subscriptions = tonumber(ARGV[3])
local i = 4 + subscriptions
while i <= #ARGV do
  local entry, event, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 5])
  for j = 1, n do
    local k, line = tonumber(ARGV[i + 4 + 2 * j]), tonumber(ARGV[i + 5 + 2 * j])
    local due, states = KEYS[1 + 2 * k], KEYS[2 + 2 * k]
    if line == 0 then
      if redis.call('HSETNX', states, event, ARGV[i + 2]) == 1 then
        redis.call('ZADD', due, ARGV[2], event)
      end
    elseif redis.call('HSETNX', states, event, ARGV[i + 3]) == 1 then
      -- No lease to check: a first in its line is not claimed while an earlier entry of
      -- its customer, such as this one, waits to be fanned out (see delivery_claim).
      join_line(KEYS[line], due, ARGV[i + 4], event, ARGV[2], false)
    end
  end
  redis.call('XACK', KEYS[1], ARGV[1], entry)
  i = i + 6 + 2 * n
end
for k = 1, subscriptions do redis.call('SADD', KEYS[2], ARGV[3 + k]) end
return 1
