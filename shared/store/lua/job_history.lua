-- job_history.lua: append one lifecycle event's entries to a job's history, once per event id.
--
-- KEYS[1] job history  LIST  event JSON, oldest first, capped
-- KEYS[2] job seen     SET   event ids already written
-- ARGV[1] event id   ARGV[2] entries kept   ARGV[3] retention (s)   ARGV[4..] entries JSON
--
-- Returns 1 if written, 0 if this event was written before (a redelivered message).
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[2], ARGV[3])
if #ARGV >= 4 then
  redis.call('RPUSH', KEYS[1], unpack(ARGV, 4))
  redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return 1
