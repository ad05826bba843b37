-- A customer's line of an ordered subscription: a sorted set (all scores 0) of places
-- "<stream entry, zero-padded>|<event id>", so it sorts in stream order whatever order the
-- deliveries joined in. Its first alone is in the due queue: the next is sent only once the
-- first has left (it succeeded, or became a dead letter). Built only by these functions and
-- by bridge/delivery/queue.py (_place), which writes the places.

-- The event id of a place (what follows the 42 characters of the padded entry and the '|').
local function item_of(place)
  return string.sub(place, 43)
end

-- Puts a delivery in its line at its place; due at due_ms when it comes first. One that
-- goes in front of the first takes its turn, unless ``in_flight(first)`` (a function of
-- the caller's, or false when none can be): it then waits until that one leaves.
local function join_line(line, due, place, item, due_ms, in_flight)
  redis.call('ZADD', line, 0, place)
  local first = redis.call('ZRANGE', line, 0, 1)
  if first[1] ~= place then return end
  if first[2] then
    local before = item_of(first[2])
    if in_flight and in_flight(before) then return end
    redis.call('ZREM', due, before)
  end
  redis.call('ZADD', due, due_ms, item)
end

-- Takes a finished delivery out of its line; the line's first becomes due at now_ms unless
-- it is due already (it was the first all along, with its own retry time).
local function leave_line(line, due, place, now_ms)
  redis.call('ZREM', line, place)
  local first = redis.call('ZRANGE', line, 0, 0)[1]
  if first then redis.call('ZADD', due, 'NX', now_ms, item_of(first)) end
end

-- Whether stream entry id a comes before b ("ms-seq").
local function entry_before(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end

