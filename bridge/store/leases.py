"""Leased work queues in Redis, as the poll schedule uses them.

A queue is a sorted set of item → due time plus a hash of leases. Claiming an item gives it
a lease (``worker:expiry``) and moves its due time to the lease's expiry, so the item of a
worker that died becomes due again by itself when the lease runs out. Claims are one
script, so concurrent workers never hold the same item. (Webhook deliveries follow the same
lease scheme in :mod:`bridge.delivery.lua`, whose claim also returns each item's payload.)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLAIM", "Lease", "parse_claimed"]

# KEYS: queue, leases, poked. ARGV: now ms, lease ms, limit, worker.
# Leases up to ARGV[3] due items until now + lease; an item whose lease has not expired is
# skipped, never shared. Claiming an item also consumes a pending "poke" of it.
CLAIM = """
local now = tonumber(ARGV[1])
local expiry = now + tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, ARGV[3])
local claimed = {}
for i = 1, #due, 2 do
  local item = due[i]
  local lease = redis.call('HGET', KEYS[2], item)
  local held_until = lease and tonumber(string.match(lease, ':(%d+)$')) or 0
  if held_until <= now then
    local token = ARGV[4] .. ':' .. expiry
    redis.call('HSET', KEYS[2], item, token)
    redis.call('ZADD', KEYS[1], expiry, item)
    redis.call('SREM', KEYS[3], item)
    table.insert(claimed, item)
    table.insert(claimed, token)
    table.insert(claimed, due[i + 1])
  end
end
return claimed
"""


@dataclass(frozen=True, slots=True)
class Lease:
    item: str
    token: str
    due_ms: float


def parse_claimed(flat: list[bytes]) -> list[Lease]:
    return [
        Lease(flat[i].decode(), flat[i + 1].decode(), float(flat[i + 2]))
        for i in range(0, len(flat), 3)
    ]
