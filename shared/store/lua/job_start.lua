-- job_start.lua: a picked-up job starts; its pickup lease becomes a run lease.
--
-- KEYS[1] job             HASH  the job's fields
-- KEYS[2] retries         ZSET  member -> due (ms) of lease checks (see job_pickup.lua)
-- KEYS[3] retry_payloads  HASH  member -> lease check JSON
-- KEYS[4] jobs queue      LIST  kombu's list of the jobs pool
-- ARGV[1] account   ARGV[2] now (unix s)   ARGV[3] run lease member ("" = no lease)
-- ARGV[4] run lease deadline (ms)   ARGV[5] lease check JSON   ARGV[6] event message
-- ARGV[7] wake channel of the beat
--
-- Returns {"ok"}, {"missing"} or {"state", <status>} (only a picked-up job can start).
local job = redis.call('HMGET', KEYS[1], 'account', 'status', 'lease')
if job[1] ~= ARGV[1] then return {'missing'} end
if job[2] ~= 'picked_up' then return {'state', job[2]} end
if job[3] and job[3] ~= '' then
  redis.call('ZREM', KEYS[2], job[3])
  redis.call('HDEL', KEYS[3], job[3])
end
redis.call('HSET', KEYS[1], 'status', 'started', 'start_time', ARGV[2], 'lease', ARGV[3])
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[5])
  redis.call('PUBLISH', ARGV[7], ARGV[4])
end
redis.call('LPUSH', KEYS[4], ARGV[6])
return {'ok'}
