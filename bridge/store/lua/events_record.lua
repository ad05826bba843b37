-- Records a transaction's new snapshot and appends the events of that change.
-- KEYS: 1 transactions (hash transaction -> snapshot), 2 stream,
--       3.. one index key (event id -> entry id) per event
-- ARGV: 1 transaction id, 2 expected snapshot ('' for none), 3 new snapshot,
--       4 MINID (oldest entry id kept), 5 MAXLEN, 6 index ttl ms,
--       then per event 4 values: event id, type, customer id ('' for none), envelope json
-- Returns: {1, new snapshot} done, or {0, current snapshot} when the expected one is stale
--   (nothing written; the caller detects again from the current one).
-- Atomic: an event is written exactly when the change it reports is recorded, so a crash
--   or a second poller can neither lose nor duplicate one (compare-and-set + append).
-- Needs: append
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[2] then return {0, current} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
append_new_events(KEYS[2], 3, 7, ARGV[4], ARGV[5], ARGV[6])
return {1, ARGV[3]}
