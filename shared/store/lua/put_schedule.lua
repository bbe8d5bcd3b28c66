-- put_schedule.lua: create or replace a schedule definition and its place in the due index.
--
-- KEYS[1] definitions    HASH  schedule id -> "<version>.<due bucket>|<JSON>", the version an
--                              edit counter, the bucket where the due index keeps it
-- KEYS[2] versions       HASH  schedule id -> edit counter, of definitions stored before the
--                              version moved into them (dropped when one is next written)
-- KEYS[3] due index      its root key (buckets: see lib/due_index.lua)
-- KEYS[4] account index  the root key of one account's index of one dialect (buckets: see
--                              lib/account_index.lua), schedule id -> creation order: the
--                              created ms, raised to 1 past the newest entry when needed, so
--                              schedules created within one ms (or on API hosts with skewed
--                              clocks) still list in the order they were created; with P
--                              partitions, the created ms x P, raised to the next value equal
--                              to ARGV[9] modulo P: unique across the account's P indexes
--                              (one cursor for them all), in creation order to the ms
-- KEYS[5] run_counts     HASH  schedule id -> fires dispatched so far
-- ARGV[1] schedule id   ARGV[2] definition JSON   ARGV[3] next fire ms (-1 = none: paused/done)
-- ARGV[4] created ms    ARGV[5] most schedules per account (0 = no limit)
-- ARGV[6] wake channel  ARGV[7] 1 = reset the run counter (a new definition), 0 = keep it
-- ARGV[8] the account's schedules of this dialect in the other partitions (0 with P = 1)
-- ARGV[9] this partition   ARGV[10] P, the partition count
--
-- Returns the new version, or -1 when a new schedule would exceed the account's quota.
-- A beat waiting on the wake channel learns the new next fire and wakes early if it is sooner.
-- A definition is "<version>.<bucket>|<JSON>"; one stored before the buckets is
-- "<version>|<JSON>", and one stored before the version moved into it is the JSON alone, its
-- version in the versions hash (KEYS[2]): both are given a bucket here.
--#include account_index
--#include due_index

local function version_of(value, sid)
  return string.match(value, '^(%d+)[.|]') or redis.call('HGET', KEYS[2], sid) or '0'
end

local sid, next_ms, quota = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[5])
local elsewhere = tonumber(ARGV[8] or '0')
local partition, partitions = tonumber(ARGV[9] or '0'), tonumber(ARGV[10] or '1')
local current = redis.call('HGET', KEYS[1], sid)
if not current and quota > 0 and index_count(KEYS[4]) + elsewhere >= quota then
  return -1
end
local version = current and tonumber(version_of(current, sid)) + 1 or 1
local bucket = current and due_bucket_of(current)
if not bucket then  -- new, or stored before the buckets (its entry leaves the root)
  if current then redis.call('ZREM', KEYS[3], sid) end
  bucket = due_new_bucket(KEYS[3])
end
redis.call('HSET', KEYS[1], sid, version .. '.' .. bucket .. '|' .. ARGV[2])
redis.call('HDEL', KEYS[2], sid)
-- A schedule is in its index exactly while its definition is stored: only an edit looks.
local order = tonumber(ARGV[4]) * partitions
if not (current and index_find(KEYS[4], sid, order)) then
  local newest = index_newest(KEYS[4])
  if newest and newest >= order then order = newest + 1 end
  if partitions > 1 then order = order + (partition - order) % partitions end
  index_add(KEYS[4], sid, order)
end
if ARGV[7] == '1' then redis.call('HDEL', KEYS[5], sid) end
if next_ms >= 0 then
  due_count_add(KEYS[3], due_set(KEYS[3], bucket, sid, next_ms))
  due_refresh(KEYS[3], bucket)
  redis.call('PUBLISH', ARGV[6], next_ms)
else
  due_unset(KEYS[3], bucket, sid)
end
return version
