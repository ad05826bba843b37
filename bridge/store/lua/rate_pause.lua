-- Holds every caller back until ARGV[1] microseconds from now (a 429's Retry-After).
-- KEYS: 1 rate (the theoretical arrival time of the next call, unix us)
-- ARGV: 1 pause us
-- Returns: 0.
-- Atomic: the timestamp only ever moves forward: a shorter pause racing a longer one (or a
--   call being admitted) cannot shorten it; Redis's clock, as in rate_acquire.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_us = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat < until_us then
  redis.call('SET', KEYS[1], until_us, 'PX', math.ceil(tonumber(ARGV[1]) / 1000) + 1000)
end
return 0
