-- Books the next free upstream slot for an API call (a caller is waiting, so it goes before
-- polls), unless that slot is further away than the caller may wait.
-- KEYS: 1 rate (the theoretical arrival time of the next call, unix us)
-- ARGV: 1 interval us between calls, 2 longest wait us
-- Returns: the microseconds until the booked slot (0: now); or, booking nothing, minus the
--   microseconds until the next free slot when that is beyond the longest wait.
-- Atomic: reading and advancing the shared timestamp is one step, so API replicas and
--   workers never book the same slot; Redis's clock, as in rate_acquire.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local longest = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - now
if wait > longest then return -wait end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil((tat + interval - now) / 1000) + 1000)
return wait
