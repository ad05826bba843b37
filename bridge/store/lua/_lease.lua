-- The lease token "worker:expiry_ms", built and read only here in Lua and only in
-- bridge/store/leases.py (make_token, token_expiry_ms) in Python; a test runs both sides
-- against each other. The worker id may itself contain ':', so the expiry is what follows
-- the last one.

local function make_token(worker, expiry_ms)
  return worker .. ':' .. string.format('%d', expiry_ms)
end

-- When a lease runs out (unix ms); 0 for no lease (a missing hash field reads as false).
local function token_expiry_ms(token)
  return token and tonumber(string.match(token, ':(%d+)$')) or 0
end

