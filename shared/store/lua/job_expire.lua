-- job_expire.lua: enforce one lease of a job: a pickup lease returns the job to its queue, a run
-- lease marks it failed; either way the job's history says so, in the same step.
--
-- KEYS[1] job           HASH  the job's fields
-- KEYS[2] job queue     ZSET  queued job id -> q_time (s), the job's account and beacon
-- KEYS[3] job history   LIST  event JSON, oldest first
-- ARGV[1] lease member (the job's lease must still be this one)   ARGV[2] job id
-- ARGV[3] now (unix s)   ARGV[4] history entry if requeued   ARGV[5] history entry if failed
-- ARGV[6] history entries kept   ARGV[7] retention (s)
--
-- Returns "requeued", "failed", or "stale" (the job moved on, or holds a newer lease: nothing).
local job = redis.call('HMGET', KEYS[1], 'lease', 'status', 'q_time', 'keep')
if job[1] ~= ARGV[1] or ARGV[1] == '' then return 'stale' end
local outcome, entry
if job[2] == 'picked_up' then
  redis.call('HSET', KEYS[1], 'status', 'queued', 'lease', '')
  redis.call('HDEL', KEYS[1], 'pickup_time')
  redis.call('ZADD', KEYS[2], job[3] or ARGV[3], ARGV[2])
  outcome, entry = 'requeued', ARGV[4]
elseif job[2] == 'started' then
  redis.call('HSET', KEYS[1], 'status', 'failed', 'end_time', ARGV[3], 'lease', '')
  if job[4] ~= '1' then redis.call('EXPIRE', KEYS[1], ARGV[7]) end
  outcome, entry = 'failed', ARGV[5]
else
  return 'stale'
end
redis.call('RPUSH', KEYS[3], entry)
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[6]), -1)
redis.call('EXPIRE', KEYS[3], ARGV[7])
return outcome
