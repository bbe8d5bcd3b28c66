-- redrive.lua: send a dead letter back for a fresh series of attempts.
--
-- KEYS[1] dead_letters     HASH   execution id -> dead letter JSON
-- KEYS[2] dead_index       ZSET   execution id -> died at (ms)
-- KEYS[3] retries          ZSET   execution id -> retry at (ms)
-- KEYS[4] retry_payloads   HASH   execution id -> retry JSON
-- KEYS[5] execution state  STRING "<state>|<attempt>"
-- KEYS[6] account dead index ZSET execution id -> died at (ms), the execution's account+dialect
-- ARGV[1] execution id   ARGV[2] now (ms)   ARGV[3] retry JSON (attempt reset)   ARGV[4] wake channel
--
-- Returns 1 if the dead letter existed and is queued again, else 0.
local exec_id = ARGV[1]
if redis.call('HDEL', KEYS[1], exec_id) == 0 then return 0 end
redis.call('ZREM', KEYS[2], exec_id)
redis.call('ZREM', KEYS[6], exec_id)
redis.call('DEL', KEYS[5])
redis.call('ZADD', KEYS[3], ARGV[2], exec_id)
redis.call('HSET', KEYS[4], exec_id, ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1
