-- Reads the event stream after a position, or says that entries after it are gone.
-- KEYS: 1 stream
-- ARGV: 1 position: an entry id, '$' (after the newest entry) or '-' (before the oldest
--   entry kept), 2 at most this many entries
-- Returns: {gone, position, entries}: gone 0 with the entries after position (XRANGE's
--   shape, oldest first) and position with '$' (or '-' when nothing is kept) resolved to the
--   newest id; gone 1 when an entry after position was trimmed or deleted, or position is
--   newer than any id the stream gave.
-- Atomic: the gap check and the read see one state of the stream, so a trim between them
--   cannot hide a gap.

-- Stream ids compared as two unsigned integers written in decimal (up to 20 digits, more
-- than a Lua number holds exactly): by length without leading zeros, then as strings.
local function number_less(a, b)
    a = string.gsub(a, '^0+', '')
    b = string.gsub(b, '^0+', '')
    if #a ~= #b then
        return #a < #b
    end
    return a < b
end

local function id_less(a, b)
    local a_ms, a_seq = string.match(a, '^(%d+)-(%d+)$')
    local b_ms, b_seq = string.match(b, '^(%d+)-(%d+)$')
    if a_ms ~= b_ms and number_less(a_ms, b_ms) ~= number_less(b_ms, a_ms) then
        return number_less(a_ms, b_ms)
    end
    return number_less(a_seq, b_seq)
end

local stream, position, count = KEYS[1], ARGV[1], ARGV[2]
if redis.call('EXISTS', stream) == 0 then
    -- Never written (or deleted whole): only the start of time is a position in it.
    if position == '$' or position == '-' then
        return {0, '0-0', {}}
    end
    return {id_less('0-0', position) and 1 or 0, position, {}}
end

local reply = redis.call('XINFO', 'STREAM', stream)
local info = {}
for i = 1, #reply, 2 do
    info[reply[i]] = reply[i + 1]
end
local newest = info['last-generated-id']
if position == '$' then
    return {0, newest, {}}
end
if position == '-' then
    local entries = redis.call('XRANGE', stream, '-', '+', 'COUNT', count)
    return {0, newest, entries}
end
if id_less(newest, position) then
    return {1, position, {}}
end
-- XDEL records the largest id it removed; trimming (XADD MINID/MAXLEN) only removes from
-- the front, so an entry after position was trimmed only if the first kept one is after it.
if id_less(position, info['max-deleted-entry-id']) then
    return {1, position, {}}
end
local removed = info['entries-added'] - info['length']
if removed > 0 then
    local first = info['first-entry']
    local oldest = first and first[1] or newest
    if id_less(position, oldest) then
        return {1, position, {}}
    end
end
return {0, position, redis.call('XRANGE', stream, '(' .. position, '+', 'COUNT', count)}
