-- Frees an idempotency key whose request failed with an unknown outcome.
-- KEYS: 1 the idempotency key
-- ARGV: 1 this request's pending record json
-- Returns: 1 deleted, 0 the key holds something else (left alone).
-- Atomic: compare-and-delete, so a release never removes a completed response or another
--   request's claim made after this one's expired.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
