-- relay.lua: hand the relaying beat the oldest messages of each outbox, and trim from each
-- outbox what the broker confirmed of the last hand, if the relay lease is still that beat's.
--
-- KEYS[1] relay_lease  STRING  the relaying beat's token, expiring with its lease
-- KEYS[2..] outbox(q)  LIST    Celery messages for queue q, newest first (LPUSHed by publishers)
-- ARGV[1] token   ARGV[2] lease (ms)   ARGV[3] most messages handed per outbox
-- ARGV[4..] per outbox (in KEYS order), how many of the oldest messages the broker confirmed
--           since the last call (0: none)
--
-- Returns {0} when another beat's lease holds (nothing trimmed, nothing handed), else
-- {1, <messages of KEYS[2]>, <messages of KEYS[3]>, ...}: each outbox's ARGV[3] oldest, the
-- oldest last.
-- Only the lease holder trims, and publishers only push at the head: while the lease stayed
-- ours, the tail is exactly what we were handed, so the confirmed count trims just those. A
-- lease that ran out trims nothing: what was published is handed (and published) again, a
-- duplicate the workers' dedupe runs once; never a message trimmed that was not confirmed.
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {0} end
if holder then
  for i = 2, #KEYS do
    local confirmed = tonumber(ARGV[i + 2])
    if confirmed > 0 then redis.call('LTRIM', KEYS[i], 0, -confirmed - 1) end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local out = {1}
local most = tonumber(ARGV[3])
for i = 2, #KEYS do
  -- most = 0 (a last trim at shutdown): hand nothing (LRANGE of -0 is an error, raised after
  -- the trims above were written, which stopped a stop's trims at the first partition)
  out[i] = most > 0 and redis.call('LRANGE', KEYS[i], -most, -1) or {}
end
return out
