-- job_pickup.lua: one beacon takes one queued job, atomically (of racing pickups, one wins).
--
-- KEYS[1] job             HASH  the job's fields
-- KEYS[2] job queue       ZSET  queued job id -> q_time (s), the job's account and beacon
-- KEYS[3] retries         ZSET  member -> due (ms): the beat publishes the lease check then
-- KEYS[4] retry_payloads  HASH  member -> {"task", "queue", "execution"} of the lease check
-- KEYS[5] jobs queue      LIST  kombu's list of the jobs pool
-- ARGV[1] account   ARGV[2] job id   ARGV[3] now (unix s)
-- ARGV[4] lease member ("" = no lease)   ARGV[5] lease deadline (ms)   ARGV[6] lease check JSON
-- ARGV[7] event message for the jobs pool   ARGV[8] wake channel of the beat
--
-- Returns {"ok"}, {"missing"} (no such job, or another account's), {"state", <status>} (not
-- queued: picked up by someone else, or never queued) or {"early", <q_time>} (not eligible yet).
local job = redis.call('HMGET', KEYS[1], 'account', 'status', 'q_time')
if job[1] ~= ARGV[1] then return {'missing'} end
if job[2] ~= 'queued' then return {'state', job[2]} end
if tonumber(job[3] or '0') > tonumber(ARGV[3]) then return {'early', job[3]} end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'status', 'picked_up', 'pickup_time', ARGV[3], 'lease', ARGV[4])
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
  redis.call('HSET', KEYS[4], ARGV[4], ARGV[6])
  redis.call('PUBLISH', ARGV[8], ARGV[5])
end
redis.call('LPUSH', KEYS[5], ARGV[7])
return {'ok'}
