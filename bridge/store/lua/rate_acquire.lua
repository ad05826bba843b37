-- Admits one upstream call now, or says how long to wait (GCRA on one key).
-- KEYS: 1 rate (the theoretical arrival time of the next call, unix us)
-- ARGV: 1 interval us between calls, 2 burst us (debt tolerated, (burst - 1) intervals)
-- Returns: 0 go, else the microseconds to wait.
-- Atomic: read, compare and advance of the shared timestamp are one step, so any number of
--   replicas share one limit; Redis's own clock is used so skewed replica clocks agree.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - burst - now
if wait > 0 then return wait end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil((tat + interval - now) / 1000) + 1000)
return 0
