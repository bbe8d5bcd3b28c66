-- rate_limits.lua: one request's rate-limit counters in one round trip (scheduler_api.ratelimit),
-- with the HTTP Basic credentials' check when the request brings some, so that is the same trip.
-- Each counter is a fixed window: a STRING count that expires with its window, set on the first
-- hit (the `limits` package's format and names, so counters live on across an upgrade).
--
-- KEYS[1]  accounts HASH appkey -> account JSON (read only when ARGV[5] names an appkey)
-- KEYS[2..] the counters: ARGV[1] to check; then the passed group, ARGV[2] counted and ARGV[3]
--           charged; then the failed group, ARGV[4] counted and the rest charged
-- ARGV[5] an appkey whose account must have ARGV[6] as master_secret_sha256 ('' = no check:
--         the request passed)   ARGV[7..] a limit per checked counter, then a window per other
--
-- Returns {i, ttl} when checked counter i (from 1) is at or over its limit: nothing is counted.
-- Otherwise {0, account, count, ttl, count, ttl, ...}: the account JSON if the credentials are
-- right (else ''), then each charged counter of the group that applies after its increment.
-- Counted counters are incremented like charged ones, their counts not returned (failures).
-- On Redis Cluster the counters and KEYS[1] share one hash tag ({global}, see keys.py).
local checks, pass_counts, pass_charges = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local fail_counts = tonumber(ARGV[4])
for i = 1, checks do
  if tonumber(redis.call('GET', KEYS[1 + i]) or '0') >= tonumber(ARGV[6 + i]) then
    return {i, redis.call('TTL', KEYS[1 + i])}
  end
end

local account, passed = '', true
if ARGV[5] ~= '' then
  -- Digests compared, not secrets: how long the comparison takes tells nothing of the secret.
  local raw = redis.call('HGET', KEYS[1], ARGV[5])
  passed = raw and cjson.decode(raw)['master_secret_sha256'] == ARGV[6]
  if passed then account = raw end
end

local first, counted, last = checks + 1, pass_counts, checks + pass_counts + pass_charges
if not passed then
  first, counted, last = last + 1, fail_counts, #KEYS - 1
end
local answer = {0, account}
for i = first, last do
  local count = redis.call('INCR', KEYS[1 + i])
  local window = tonumber(ARGV[6 + i])
  if count == 1 then
    redis.call('EXPIRE', KEYS[1 + i], window)
  end
  if i >= first + counted then
    answer[#answer + 1] = count
    answer[#answer + 1] = count == 1 and window or redis.call('TTL', KEYS[1 + i])
  end
end
return answer
