-- Replaces one subscription's record if it is still the one that was read.
-- KEYS: 1 subscription records (hash id -> record)
-- ARGV: 1 subscription id, 2 the record as read, 3 the record to store instead
-- Returns: 1 replaced, 0 the record changed since it was read (nothing written), -1 it is gone.
-- Atomic: compare and set in one step, so a reseal never overwrites an edit or a rotation
--   that landed after it read the record.
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then return -1 end
if stored ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
