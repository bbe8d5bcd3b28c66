-- job_task.lua: a started job reports the task it is processing now (its cur_task).
--
-- KEYS[1] job         HASH  the job's fields
-- KEYS[2] jobs queue  LIST  kombu's list of the jobs pool
-- ARGV[1] account   ARGV[2] cur_task   ARGV[3] event message
--
-- Returns {"ok"}, {"missing"}, {"state", <status>} (only while started) or {"range", <total>}
-- (cur_task past the job's task count).
local job = redis.call('HMGET', KEYS[1], 'account', 'status', 'total_tasks')
if job[1] ~= ARGV[1] then return {'missing'} end
if job[2] ~= 'started' then return {'state', job[2]} end
if tonumber(ARGV[2]) > tonumber(job[3] or '0') then return {'range', job[3] or '0'} end
redis.call('HSET', KEYS[1], 'cur_task', ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[3])
return {'ok'}
