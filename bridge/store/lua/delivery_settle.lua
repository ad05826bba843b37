-- Records the outcomes of many attempts of one subscription and what follows from each.
-- KEYS: 1 due queue (zset), 2 leases (hash), 3 delivery states (hash), 4 dead letters
--       (hash), 5 attempt log (stream), 6 failing subscriptions (hash subscription -> since ms),
--       7 dead-letter times (zset event -> ms it became a dead letter), 8.. customer lines
--       (sorted sets of places) of an ordered subscription
-- ARGV: 1 subscription id, 2 now ms, 3 attempt-log length, then per attempt 10 values:
--       event id, lease token, kind (done|retry|dead), due ms, state json, dead-letter json,
--       attempt json ('' for none), the endpoint ('1' failed, '0' succeeded, '' not asked:
--       the failing clock is left as it is), number in KEYS of its line (0: none), its
--       place there
-- Returns: per attempt -1 lease lost, 0 fine, else the unix ms since when the subscription
--   has been failing.
-- Atomic: each outcome is written only while this worker still holds the delivery's lease,
--   and its queue entry, state, dead letter, attempt log and failing clock change together;
--   a delivery that leaves its customer's line makes the next one due in the same step.
-- Needs: line
local answers = {}
local since = false
for i = 4, #ARGV, 10 do
  local item, token, kind = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HGET', KEYS[2], item) ~= token then
    table.insert(answers, -1)
  else
    redis.call('HDEL', KEYS[2], item)
    if kind == 'retry' then
      redis.call('ZADD', KEYS[1], 'XX', ARGV[i + 3], item)
      redis.call('HSET', KEYS[3], item, ARGV[i + 4])
    else
      redis.call('ZREM', KEYS[1], item)
      redis.call('HDEL', KEYS[3], item)
      if kind == 'dead' then
        redis.call('HSET', KEYS[4], item, ARGV[i + 5])
        redis.call('ZADD', KEYS[7], ARGV[2], item)
      end
      local line = tonumber(ARGV[i + 8])
      if line > 0 then leave_line(KEYS[line], KEYS[1], ARGV[i + 9], ARGV[2]) end
    end
    if ARGV[i + 6] ~= '' then
      redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*', 'a', ARGV[i + 6])
    end
    if ARGV[i + 7] == '1' then
      redis.call('HSETNX', KEYS[6], ARGV[1], ARGV[2])
      since = redis.call('HGET', KEYS[6], ARGV[1])
      table.insert(answers, tonumber(since))
    elseif ARGV[i + 7] == '0' then
      redis.call('HDEL', KEYS[6], ARGV[1])
      table.insert(answers, 0)
    else
      table.insert(answers, 0)
    end
  end
end
return answers
