-- job_finish.lua: a started job finishes with its results; its run lease is dropped.
--
-- KEYS[1] job             HASH  the job's fields
-- KEYS[2] retries         ZSET  member -> due (ms) of lease checks (see job_pickup.lua)
-- KEYS[3] retry_payloads  HASH  member -> lease check JSON
-- KEYS[4] jobs queue      LIST  kombu's list of the jobs pool
-- ARGV[1] account   ARGV[2] now (unix s)   ARGV[3] results JSON (array)   ARGV[4] event message
-- ARGV[5] retention (s): a finished job expires then, unless it is a scheduled job ("keep")
--
-- Returns {"ok"}, {"missing"} or {"state", <status>} (only a started job can finish).
local job = redis.call('HMGET', KEYS[1], 'account', 'status', 'lease', 'keep')
if job[1] ~= ARGV[1] then return {'missing'} end
if job[2] ~= 'started' then return {'state', job[2]} end
if job[3] and job[3] ~= '' then
  redis.call('ZREM', KEYS[2], job[3])
  redis.call('HDEL', KEYS[3], job[3])
end
redis.call('HSET', KEYS[1], 'status', 'finished', 'end_time', ARGV[2], 'result', ARGV[3],
  'lease', '')
if job[4] ~= '1' then
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
redis.call('LPUSH', KEYS[4], ARGV[4])
return {'ok'}
