-- job_create.lua: store a new beacon job, index it, queue it, and announce it to the jobs pool.
--
-- KEYS[1] job           HASH    the job's fields
-- KEYS[2] job index     ZSET    job id -> job id, the account's jobs
-- KEYS[3] job queue     ZSET    queued job id -> q_time (s), the account's jobs for its beacon
-- KEYS[4] spawned       STRING  job id created for one scheduled fire (dedupe), if ARGV[4] = 1
-- KEYS[5] jobs queue    LIST    kombu's list of the jobs pool (Celery messages)
-- ARGV[1] job id   ARGV[2] q_time (s) to queue it at, or -1 (not queued)
-- ARGV[3] event message for the jobs pool ("" = none)   ARGV[4] 1 = dedupe on KEYS[4], else 0
-- ARGV[5] dedupe lifetime (s)   ARGV[6..] field, value, field, value, ...
--
-- Returns the job id: ARGV[1], or the id an earlier call with the same KEYS[4] created (then
-- nothing is written: a redelivered fire never creates a second instance).
if ARGV[4] == '1' then
  local existing = redis.call('GET', KEYS[4])
  if existing then return tonumber(existing) end
  redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[5])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1])
if tonumber(ARGV[2]) >= 0 then
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
end
if ARGV[3] ~= '' then
  redis.call('LPUSH', KEYS[5], ARGV[3])
end
return tonumber(ARGV[1])
