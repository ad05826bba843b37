-- A customer's line of an ordered subscription: a list of event ids in stream order whose
-- head alone is in the due queue, so the next is sent only once the head has left (it
-- succeeded, or became a dead letter). Built and read only by these two functions.

-- Puts a delivery at the end of its line; due at due_ms when it is the head.
local function join_line(line, due, item, due_ms)
  if redis.call('RPUSH', line, item) == 1 then redis.call('ZADD', due, due_ms, item) end
end

-- Takes a finished delivery out of its line; the next one becomes due at now_ms.
local function leave_line(line, due, item, now_ms)
  if redis.call('LINDEX', line, 0) ~= item then
    -- Never the case while only heads are due; a finished event must not come up later.
    redis.call('LREM', line, 1, item)
    return
  end
  redis.call('LPOP', line)
  local head = redis.call('LINDEX', line, 0)
  if head then redis.call('ZADD', due, now_ms, head) end
end

