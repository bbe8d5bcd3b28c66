-- task_log.lua: append one entry to a task's history (newest first), under a fresh log id.
--
-- KEYS[1] task log       LIST    "<log id>|<entry JSON>", newest first, capped, expiring
-- KEYS[2] task log seq   STRING  the last log id issued to the task's account (one sequence
--                                per account: ids never reveal other accounts' activity)
-- KEYS[3] task last run  HASH    schedule id -> start of its last run (ms)
-- ARGV[1] entry JSON   ARGV[2] entries kept   ARGV[3] retention (s)   ARGV[4] schedule id
-- ARGV[5] start of a run (ms), or "" when the entry is not a run's start
-- ARGV[6] this partition   ARGV[7] P, the partition count: each partition keeps the account's
--         sequence apart and issues seq x P + partition, so ids stay unique per account and
--         grow down each task's list (with P = 1: the sequence itself)
--
-- Returns the new log id. Id and position are taken in one step, so ids grow down the list.
local id = redis.call('INCR', KEYS[2]) * tonumber(ARGV[7] or '1') + tonumber(ARGV[6] or '0')
redis.call('LPUSH', KEYS[1], id .. '|' .. ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
end
return id
