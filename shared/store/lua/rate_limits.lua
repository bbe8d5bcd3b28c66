-- rate_limits.lua: one request's rate-limit counters in one round trip (scheduler_api.ratelimit).
-- Each counter is a fixed window: a STRING count that expires with its window, set on the first
-- hit (the `limits` package's format and names, so counters live on across an upgrade).
--
-- KEYS   first ARGV[1] counters to check, then ARGV[2] counters to count, then counters to charge
-- ARGV[1] how many to check   ARGV[2] how many to count
-- ARGV[3..] a limit for each checked counter, then a window (s) for each counted and charged one
--
-- Returns {i, ttl} when checked counter i (from 1) is at or over its limit: nothing is counted
-- then. Otherwise {0, count, ttl, count, ttl, ...}: each charged counter after its increment.
-- Counted counters are incremented like charged ones, their counts not returned (failures).
-- The counters share no hash tag: on Redis Cluster they would need one (they are not engine keys).
local checks, counts = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, checks do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[2 + i]) then
    return {i, redis.call('TTL', KEYS[i])}
  end
end
local answer = {0}
for i = checks + 1, #KEYS do
  local count = redis.call('INCR', KEYS[i])
  local window = tonumber(ARGV[2 + i])
  if count == 1 then
    redis.call('EXPIRE', KEYS[i], window)
  end
  if i > checks + counts then
    answer[#answer + 1] = count
    answer[#answer + 1] = count == 1 and window or redis.call('TTL', KEYS[i])
  end
end
return answer
