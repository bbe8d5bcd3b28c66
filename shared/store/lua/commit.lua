-- commit.lua: publish claimed fires and advance their schedules, atomically per entry.
--
-- KEYS[1] due index      its root key (buckets: see lib/due_index.lua)
-- KEYS[2] leases         ZSET  claimed member -> lease expiry (ms)
-- KEYS[3] claims         HASH  claimed member -> "<token>|<kind>|<due ms>|<version>"
-- KEYS[4] definitions    HASH  schedule id -> "<version>.<due bucket>|<JSON>" (put_schedule.lua)
-- KEYS[5] versions       HASH  schedule id -> edit counter (definitions stored before)
--                              (a definition stored before the due buckets is given one here,
--                              written in front of it: due_bucket_given in lib/due_index.lua)
-- KEYS[6] run_counts     HASH  schedule id -> fires dispatched so far
-- KEYS[7] retry_payloads HASH  execution id -> retry JSON
-- KEYS[8] published      ZSET  execution id -> deadline (ms): the ledger of what was published
-- KEYS[9] published_messages HASH execution id -> "<copies>|<queue key>|<message>"
-- KEYS[10] overlap_running HASH schedule id -> its execution not finished yet
-- KEYS[11..] Celery queue lists, account indexes and overlap buffers, by position from ARGV
-- ARGV[1] claim token   ARGV[2] now (ms)   ARGV[3] ms a published execution may wait unbegun
-- ARGV[4] E, the number of batch envelopes; then E triples: queue key position, the message's
--           text before its body, and after it (a batch message's body is a JSON string)
-- then groups of 14: member, next_ms (-1 = no future fire), queue key position (0 = publish
--           nothing), message, account index key position (0 = keep the definition; else purge
--           it), counts_as_run (1/0), retired key position (STRING: a purged definition is kept
--           there, so its owner can still read its history), seconds to keep it, the published
--           message's ledger id ("" = not recorded), batch envelope (0 = publish the message
--           alone), the execution's JSON (the element of the batch's argument), the schedule's
--           overlap policy ("" = allow_all: publish whatever runs), its overlap buffer's key
--           position (LIST; 0 = none), a purged schedule's created ms x P (where its
--           account index entry is looked for: lib/account_index.lua)
--
-- Returns one status per group: 1 committed, 0 lease lost (another beat owns it now: nothing
-- published), 2 schedule deleted meanwhile (nothing published), and, for a fire of a schedule
-- whose overlap policy is not allow_all, while its previous execution has not finished
-- (overlap_running names it): 3 committed but the fire skipped (policy skip, or buffer_one
-- with one fire waiting already: the caller records it), 4 committed and the fire buffered
-- (finish_execution.lua publishes it when the running one ends). A fire of such a schedule
-- that is published becomes its running execution.
-- Messages are LPUSHed onto kombu's Redis list for the queue, exactly as kombu's own publish
-- does, so the publish and the advance of the schedule happen in one atomic step; the same step
-- records each in the ledger, which republish.lua reads if no worker begins it in time.
-- Batches: the committed executions of one envelope go out as one message whose argument is the
-- list of them (one alone goes out as its own message); the ledger keeps each one's own message.
--#include account_index
--#include due_index

local token = ARGV[1]
local deadline = tonumber(ARGV[2]) + tonumber(ARGV[3])
local statuses = {}
local refresh = {}  -- the due buckets written to, set to their earliest fire at the end
local added = 0  -- schedules back in the due buckets
local envelopes = {}
local E = tonumber(ARGV[4])
for e = 1, E do
  local at = 4 + (e - 1) * 3
  envelopes[e] = {queue = tonumber(ARGV[at + 1]), head = ARGV[at + 2], tail = ARGV[at + 3],
                  executions = {}, messages = {}}
end

local function publish(queue_pos, message, ledger_id, envelope, execution)
  if queue_pos == 0 then return end
  if envelope > 0 then
    table.insert(envelopes[envelope].executions, execution)
    table.insert(envelopes[envelope].messages, message)
  else
    redis.call('LPUSH', KEYS[queue_pos], message)
  end
  if ledger_id ~= '' then
    redis.call('ZADD', KEYS[8], deadline, ledger_id)
    redis.call('HSET', KEYS[9], ledger_id, '0|' .. KEYS[queue_pos] .. '|' .. message)
  end
end

-- Whether the schedule waits on an execution that has not finished: one the ledger holds
-- (published or running) or the retry schedule does (waiting for its next attempt). One that
-- neither holds ended without a finish (its message lost for good, dropped from the ledger as
-- unknown): the schedule stops waiting on it rather than wait forever.
local function waiting(member)
  local running = redis.call('HGET', KEYS[10], member)
  if not running then return false end
  if redis.call('ZSCORE', KEYS[8], running) or redis.call('HEXISTS', KEYS[7], running) == 1 then
    return true
  end
  redis.call('HDEL', KEYS[10], member)
  return false
end

-- Publish a fire now, or, under an overlap policy while the previous one runs, buffer or skip
-- it: the status commit() answers for it (1 published, 3 skipped, 4 buffered).
local function fire(member, queue_pos, message, ledger_id, envelope, execution, overlap, buffer)
  if overlap == '' or queue_pos == 0 then
    publish(queue_pos, message, ledger_id, envelope, execution)
    return 1
  end
  if not waiting(member) then
    publish(queue_pos, message, ledger_id, envelope, execution)
    redis.call('HSET', KEYS[10], member, ledger_id)
    return 1
  end
  if overlap == 'skip' or (overlap == 'buffer_one' and redis.call('LLEN', KEYS[buffer]) > 0) then
    return 3
  end
  redis.call('RPUSH', KEYS[buffer], cjson.encode({ledger_id, KEYS[queue_pos], message}))
  return 4
end

-- A definition is "<version>.<bucket>|<JSON>" or "<version>|<JSON>"; one stored before the
-- version moved into it is the JSON alone, its version in the versions hash (KEYS[5]).
local function version_of(value, sid)
  return string.match(value, '^(%d+)[.|]') or redis.call('HGET', KEYS[5], sid) or '0'
end

local function commit(member, next_ms, queue_pos, message, index_pos, counts, retired_pos,
                      retain_s, ledger_id, envelope, execution, overlap, buffer, created)
  local claim = redis.call('HGET', KEYS[3], member)
  if not claim then return 0 end
  local owner, kind, _, version = string.match(claim, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  if owner ~= token then return 0 end
  redis.call('HDEL', KEYS[3], member)
  redis.call('ZREM', KEYS[2], member)

  if kind == 'r' then
    redis.call('HDEL', KEYS[7], member)
    publish(queue_pos, message, ledger_id, envelope, execution)
    return 1
  end

  local definition = redis.call('HGET', KEYS[4], member)
  if not definition then return 2 end
  local status = fire(member, queue_pos, message, ledger_id, envelope, execution, overlap, buffer)
  -- edited since the claim: the edit set the next fire
  if version_of(definition, member) ~= version then return status end
  if counts == 1 then redis.call('HINCRBY', KEYS[6], member, 1) end
  if next_ms >= 0 then
    local bucket = due_bucket_given(KEYS[1], KEYS[4], KEYS[5], member, definition, version)
    added = added + due_set(KEYS[1], bucket, member, next_ms)
    refresh[bucket] = true
  elseif index_pos > 0 then
    if retired_pos > 0 and retain_s > 0 then
      redis.call('SET', KEYS[retired_pos], definition, 'EX', retain_s)
    end
    redis.call('HDEL', KEYS[4], member)
    redis.call('HDEL', KEYS[5], member)
    redis.call('HDEL', KEYS[6], member)
    index_remove(KEYS[index_pos], member, created)
  end
  return status
end

for i = 5 + 3 * E, #ARGV, 14 do
  statuses[#statuses + 1] = commit(ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]),
    ARGV[i + 3], tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6]),
    tonumber(ARGV[i + 7]), ARGV[i + 8], tonumber(ARGV[i + 9]), ARGV[i + 10], ARGV[i + 11],
    tonumber(ARGV[i + 12]), ARGV[i + 13])
end

due_count_add(KEYS[1], added)
for bucket in pairs(refresh) do due_refresh(KEYS[1], bucket) end

local EMBED = '{"callbacks":null,"errbacks":null,"chain":null,"chord":null}'
for _, envelope in ipairs(envelopes) do
  local count = #envelope.executions
  if count == 1 then
    redis.call('LPUSH', KEYS[envelope.queue], envelope.messages[1])
  elseif count > 1 then
    local body = '[[[' .. table.concat(envelope.executions, ',') .. ']],{},' .. EMBED .. ']'
    redis.call('LPUSH', KEYS[envelope.queue], envelope.head .. cjson.encode(body) .. envelope.tail)
  end
end
return statuses
