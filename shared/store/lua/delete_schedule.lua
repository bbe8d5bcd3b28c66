-- delete_schedule.lua: remove a schedule and stop its future fires.
--
-- KEYS[1] definitions    HASH  schedule id -> "<version>.<due bucket>|<JSON>" (put_schedule.lua)
-- KEYS[2] versions       HASH  schedule id -> edit counter (definitions stored before)
-- KEYS[3] due index      its root key (buckets: see lib/due_index.lua)
-- KEYS[4] account index  its root key (buckets: see lib/account_index.lua)
-- KEYS[5] run_counts     HASH  schedule id -> fires dispatched so far
-- KEYS[6] overlap_running HASH schedule id -> its execution not finished yet
-- KEYS[7] overlap buffer LIST  its fires waiting for that execution
-- ARGV[1] schedule id   ARGV[2] its created ms x P (where its index entry is looked for)
--
-- Returns 1 if it existed, else 0. A fire already claimed by a beat is dropped at commit (the
-- version is gone), so a delete takes effect on the next tick. Its overlap state goes too: the
-- fires buffered are dropped, and an execution still running releases nothing when it ends.
--#include account_index
--#include due_index

local sid = ARGV[1]
local current = redis.call('HGET', KEYS[1], sid)
if not current then return 0 end
redis.call('HDEL', KEYS[1], sid)
redis.call('HDEL', KEYS[2], sid)
redis.call('HDEL', KEYS[5], sid)
due_unset(KEYS[3], due_bucket_of(current), sid)
index_remove(KEYS[4], sid, ARGV[2] or '-inf')
redis.call('HDEL', KEYS[6], sid)
redis.call('DEL', KEYS[7])
return 1
