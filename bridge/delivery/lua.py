"""The delivery queue's Lua scripts; each one is a single atomic step in Redis.

Every key a script touches is passed in KEYS and shares the account's hash tag, so they
run unchanged on Redis Cluster.
"""

from __future__ import annotations

__all__ = ["CLAIM_WITH_BODIES", "ENQUEUE", "FAN_OUT", "RETIRE", "RETURN", "SETTLE"]

# KEYS: stream, active set, then (due, state) for each subscription k = 1..S of the batch.
# ARGV: group, due ms, S, the S subscription ids, then per entry: entry id, event id,
#       state json, n, and the n subscription numbers (1..S) that want it.
# Creates the deliveries of a batch of stream entries and acknowledges them in one step: an
# entry is acked exactly when its deliveries exist, so a crash leaves it pending (claimed
# again) and a repeat adds nothing (HSETNX).
FAN_OUT = """
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
"""

# KEYS: due, state, dead, active. ARGV: event id, state json, due ms, subscription id.
# Queues a delivery again (replay, redeliver, test); one already waiting is left alone.
ENQUEUE = """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[4])
return 1
"""

# KEYS: due, leases, state, stream. ARGV: now ms, lease ms, limit, worker.
# Leases up to ARGV[3] due deliveries (one whose lease is still running is skipped, never
# shared) and returns each with its state and the event's bytes, in one round trip.
CLAIM_WITH_BODIES = """
local now = tonumber(ARGV[1])
local expiry = now + tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[3])
local claimed = {}
for _, item in ipairs(due) do
  local lease = redis.call('HGET', KEYS[2], item)
  local held_until = lease and tonumber(string.match(lease, ':(%d+)$')) or 0
  local state = redis.call('HGET', KEYS[3], item)
  if held_until <= now and state then
    local token = ARGV[4] .. ':' .. expiry
    redis.call('HSET', KEYS[2], item, token)
    redis.call('ZADD', KEYS[1], expiry, item)
    local body = false
    local entry = cjson.decode(state)['entry']
    if entry then
      local found = redis.call('XRANGE', KEYS[4], entry, entry)
      if found[1] then
        local fields = found[1][2]
        for f = 1, #fields, 2 do
          if fields[f] == 'event' then body = fields[f + 1] end
        end
      end
    end
    table.insert(claimed, {item, token, state, body})
  elseif not state then
    redis.call('ZREM', KEYS[1], item)
  end
end
return claimed
"""

# KEYS: due, leases, state, dead, attempts, failing (all of one subscription).
# ARGV: subscription id, now ms, attempt-log length, then per attempt 8 values: item, token,
#       kind (done|retry|dead), due ms, state json, dead-letter json, attempt json, failed.
# Records many attempts and what follows from each in one step, each only while this worker
# still holds its delivery. Returns per attempt: -1 lease lost, 0 fine, else the unix ms
# since when the subscription has been failing.
SETTLE = """
local answers = {}
local since = false
for i = 4, #ARGV, 8 do
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
      if kind == 'dead' then redis.call('HSET', KEYS[4], item, ARGV[i + 5]) end
    end
    if ARGV[i + 6] ~= '' then
      redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*', 'a', ARGV[i + 6])
    end
    if ARGV[i + 7] == '1' then
      redis.call('HSETNX', KEYS[6], ARGV[1], ARGV[2])
      since = redis.call('HGET', KEYS[6], ARGV[1])
      table.insert(answers, tonumber(since))
    else
      redis.call('HDEL', KEYS[6], ARGV[1])
      table.insert(answers, 0)
    end
  end
end
return answers
"""

# KEYS: due, leases. ARGV: item, token, due ms.
# Hands a delivery back unsent (a stopping worker), due at ARGV[3], without an attempt.
RETURN = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
return 1
"""

# KEYS: due, active. ARGV: subscription id. Forgets an empty queue, atomically.
RETIRE = """
if redis.call('ZCARD', KEYS[1]) == 0 then return redis.call('SREM', KEYS[2], ARGV[1]) end
return 0
"""
