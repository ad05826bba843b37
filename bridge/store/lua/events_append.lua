-- Appends events that were never appended before (their index key is the record of that).
-- KEYS: 1 stream, 2.. one index key (event id -> entry id) per event
-- ARGV: 1 MINID (oldest entry id kept), 2 MAXLEN, 3 index ttl ms,
--       then per event 4 values: event id, type, customer id ('' for none), envelope json
-- Returns: how many events were new.
-- Atomic: the index check, the append and the index write are one step, so an event
--   appended twice (a retry, two writers) is in the stream once.
-- Needs: append
return append_new_events(KEYS[1], 2, 4, ARGV[1], ARGV[2], ARGV[3])
