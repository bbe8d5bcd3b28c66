-- delete_schedule.lua: remove a schedule and stop its future fires.
--
-- KEYS[1] definitions    HASH  schedule id -> schedule JSON
-- KEYS[2] versions       HASH  schedule id -> edit counter
-- KEYS[3] due            ZSET  schedule id -> next fire (ms)
-- KEYS[4] account index  ZSET  schedule id -> created (ms)
-- KEYS[5] run_counts     HASH  schedule id -> fires dispatched so far
-- ARGV[1] schedule id
--
-- Returns 1 if it existed, else 0. A fire already claimed by a beat is dropped at commit (the
-- version is gone), so a delete takes effect on the next tick.
local sid = ARGV[1]
if redis.call('HDEL', KEYS[1], sid) == 0 then return 0 end
redis.call('HDEL', KEYS[2], sid)
redis.call('HDEL', KEYS[5], sid)
redis.call('ZREM', KEYS[3], sid)
redis.call('ZREM', KEYS[4], sid)
return 1
