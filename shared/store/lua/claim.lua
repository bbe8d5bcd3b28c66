-- claim.lua: atomically claim everything that is due, for one beat tick.
--
-- KEYS[1] due index      its root key (buckets: see lib/due_index.lua)
-- KEYS[2] retries        ZSET  execution id -> retry at (ms)
-- KEYS[3] leases         ZSET  claimed member -> lease expiry (ms)
-- KEYS[4] claims         HASH  claimed member -> "<token>|<kind>|<due ms>|<version>"
-- KEYS[5] definitions    HASH  schedule id -> "<version>.<due bucket>|<JSON>" (put_schedule.lua)
-- KEYS[6] versions       HASH  schedule id -> edit counter (definitions stored before)
-- KEYS[7] run_counts     HASH  schedule id -> fires dispatched so far
-- KEYS[8] retry_payloads HASH  execution id -> retry JSON
-- KEYS[9] beat_heartbeat STRING last tick (ms), expires after ARGV[5] seconds
-- KEYS[10] published     ZSET  execution id -> deadline (ms): the ledger (see commit.lua)
-- ARGV[1] now (ms)   ARGV[2] lease (ms)   ARGV[3] most entries to claim   ARGV[4] claim token
-- ARGV[5] heartbeat lifetime (s)
--
-- Returns {next_wake_ms, republish_ms, kind, member, due_ms, version, body, runs, kind, ...}
--   next_wake_ms: earliest due, retry or lease expiry still pending (-1 = nothing at all)
--   republish_ms: the ledger's earliest deadline (-1 = empty): once it has passed, the beat
--                 runs republish.lua (so an idle tick stays this one call)
--   kind "s": a schedule fire (body = the stored definition, as put_schedule.lua stores it);
--   kind "r": a retry (body = retry JSON)
-- Claimed members move from due/retries into leases. A lease that expired (its beat died between
-- claim and commit) is claimed again first, keeping its original due instant: no fire is lost,
-- and the old token can no longer commit, so no fire is published twice.
--#include due_index
local now, lease_ms, limit, token = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local expiry = now + lease_ms
local out = {0, 0}
-- the tick itself is the beat's sign of life (readiness probes read it): no extra round trip
redis.call('SET', KEYS[9], ARGV[1], 'EX', ARGV[5])

-- A definition is "<version>.<bucket>|<JSON>" or "<version>|<JSON>"; one stored before the
-- version moved into it is the JSON alone, its version in the versions hash (KEYS[6]).
local function version_of(value, sid)
  return string.match(value, '^(%d+)[.|]') or redis.call('HGET', KEYS[6], sid) or '0'
end

-- version nil: the definition's own (a fresh claim); a lease claimed again keeps its claim's
local function take(member, kind, due, version)
  local body, runs
  if kind == 's' then
    body = redis.call('HGET', KEYS[5], member)
    runs = redis.call('HGET', KEYS[7], member) or '0'
    if body and not version then version = version_of(body, member) end
  else
    body = redis.call('HGET', KEYS[8], member)
    runs = '0'
  end
  if not body then  -- deleted while due or leased: forget the claim
    redis.call('ZREM', KEYS[3], member)
    redis.call('HDEL', KEYS[4], member)
    return
  end
  redis.call('ZADD', KEYS[3], expiry, member)
  redis.call('HSET', KEYS[4], member, token .. '|' .. kind .. '|' .. due .. '|' .. version)
  local n = #out
  out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5], out[n + 6] =
    kind, member, due, version, body, runs
end

local function claimed() return (#out - 2) / 6 end

-- 1. leases that expired: their beat is gone
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)) do
  local claim = redis.call('HGET', KEYS[4], member)
  if claim then
    local _, kind, due, version = string.match(claim, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
    take(member, kind, due, version)
  else
    redis.call('ZREM', KEYS[3], member)
  end
end

-- 2. schedule fires, then 3. retries, both due by now
due_take(KEYS[1], now, limit - claimed(), function(member, due) take(member, 's', due, nil) end)
local room = limit - claimed()
if room > 0 then
  local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, room)
  for i = 1, #due, 2 do
    redis.call('ZREM', KEYS[2], due[i])
    take(due[i], 'r', due[i + 1], '0')
  end
end

-- the earliest thing still pending tells the beat how long it may sleep
local wake = due_first(KEYS[1]) or -1
for _, key in ipairs({KEYS[2], KEYS[3]}) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then
    local score = tonumber(first[2])
    if wake < 0 or score < wake then wake = score end
  end
end
out[1] = wake
local first = redis.call('ZRANGE', KEYS[10], 0, 0, 'WITHSCORES')
out[2] = first[2] and tonumber(first[2]) or -1
return out
