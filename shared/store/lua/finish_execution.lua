-- finish_execution.lua: record one attempt's outcome and decide what happens next, atomically.
--
-- KEYS[1] execution state  STRING "<state>|<attempt>"
-- KEYS[2] history          LIST   run record JSON, newest first (one list per schedule)
-- KEYS[3] retries          ZSET   execution id -> retry at (ms)
-- KEYS[4] retry_payloads   HASH   execution id -> retry JSON
-- KEYS[5] dead_letters     HASH   execution id -> dead letter JSON
-- KEYS[6] dead_index       ZSET   execution id -> died at (ms)
-- KEYS[7] account dead index ZSET execution id -> died at (ms), the execution's account+dialect
-- KEYS[8] account runs     LIST   run record JSON, newest first (one list per account)
-- KEYS[9] published        ZSET   execution id -> deadline (ms): the ledger (see commit.lua)
-- KEYS[10] published_messages HASH execution id -> "<copies>|<queue key>|<message>"
-- KEYS[11] overlap_running HASH   schedule id -> its execution not finished yet (see commit.lua)
-- KEYS[12] overlap buffer  LIST   the schedule's fires waiting for it: [id, queue key, message]
-- KEYS[13..] the pools' Celery queue lists
-- ARGV[1] execution id   ARGV[2] outcome: "done" | "retry" | "dead"   ARGV[3] run record JSON
-- ARGV[4] attempt        ARGV[5] history cap   ARGV[6] retention (s)   ARGV[7] now (ms)
-- ARGV[8] retry at (ms, outcome "retry")      ARGV[9] retry or dead-letter JSON
-- ARGV[10] wake channel        ARGV[11] account runs cap
-- ARGV[12] schedule id          ARGV[13] ms a released fire may wait unbegun (the ledger's bound)
-- ARGV[14] failure notice's execution id ("" for none; outcome "dead" only)
-- ARGV[15] its retry JSON: queued in retries (KEYS[3], KEYS[4]) due now, so the beat publishes
--          it as it publishes a retry (shared.execution.failure_notice)
--
-- Returns 1, or 0 when this attempt was already recorded (a worker's repeat after Redis went
-- away before answering: the first call ran) and nothing is written, the ledger untouched.
-- "done" and "dead" are final: the execution is never run again unless redriven.
-- Every outcome takes the execution out of the ledger: a retry is recorded again when the beat
-- publishes it.
-- Overlap: when a final outcome ends the execution its schedule waits on (overlap_running), the
-- oldest buffered fire is published (onto its queue and into the ledger, as commit.lua does)
-- and becomes the one waited on; with none buffered the schedule waits on nothing. A retry
-- keeps it waiting: the execution has not finished.
local exec_id, outcome = ARGV[1], ARGV[2]

local function queue_key(name)
  for i = 13, #KEYS do
    if KEYS[i] == name then return KEYS[i] end
  end
end

-- The schedule's next buffered fire, published, if this execution was the one it waited on.
local function release_next(schedule_id)
  if redis.call('HGET', KEYS[11], schedule_id) ~= exec_id then return end
  while true do
    local entry = redis.call('LPOP', KEYS[12])
    if not entry then
      redis.call('HDEL', KEYS[11], schedule_id)
      return
    end
    local waiting = cjson.decode(entry)
    local id, queue, message = waiting[1], queue_key(waiting[2]), waiting[3]
    if queue then  -- else a queue no pool reads any more: that fire is dropped
      redis.call('LPUSH', queue, message)
      redis.call('ZADD', KEYS[9], tonumber(ARGV[7]) + tonumber(ARGV[13]), id)
      redis.call('HSET', KEYS[10], id, '0|' .. queue .. '|' .. message)
      redis.call('HSET', KEYS[11], schedule_id, id)
      return
    end
  end
end
local state = redis.call('GET', KEYS[1])
if state == 'done|' .. ARGV[4] or state == 'retrying|' .. ARGV[4] then return 0 end
redis.call('ZREM', KEYS[9], exec_id)
redis.call('HDEL', KEYS[10], exec_id)
local retention = tonumber(ARGV[6])
redis.call('LPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
redis.call('EXPIRE', KEYS[2], retention)
redis.call('LPUSH', KEYS[8], ARGV[3])
redis.call('LTRIM', KEYS[8], 0, tonumber(ARGV[11]) - 1)
redis.call('EXPIRE', KEYS[8], retention)
if outcome == 'retry' then
  redis.call('SET', KEYS[1], 'retrying|' .. ARGV[4], 'EX', retention)
  redis.call('ZADD', KEYS[3], ARGV[8], exec_id)
  redis.call('HSET', KEYS[4], exec_id, ARGV[9])
  redis.call('PUBLISH', ARGV[10], ARGV[8])
else
  redis.call('SET', KEYS[1], 'done|' .. ARGV[4], 'EX', retention)
  if outcome == 'dead' then
    redis.call('HSET', KEYS[5], exec_id, ARGV[9])
    redis.call('ZADD', KEYS[6], ARGV[7], exec_id)
    redis.call('ZADD', KEYS[7], ARGV[7], exec_id)
    if ARGV[14] ~= '' then
      redis.call('ZADD', KEYS[3], ARGV[7], ARGV[14])
      redis.call('HSET', KEYS[4], ARGV[14], ARGV[15])
      redis.call('PUBLISH', ARGV[10], ARGV[7])
    end
  end
  release_next(ARGV[12])
end
return 1
