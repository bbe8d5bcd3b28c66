-- begin_execution.lua: a worker's claim on one attempt of one execution.
--
-- KEYS[1] execution state  STRING "<state>|<attempt>", or, while it runs,
--                                 "running|<attempt>|<deliveries>|<lease until ms>|<delivery tag>"
--                                 (expires after the retention period)
-- KEYS[2] published        ZSET   execution id -> deadline (ms): the ledger (see commit.lua)
-- KEYS[3] published_messages HASH execution id -> "<copies>|<queue key>|<message>"
-- ARGV[1] execution id   ARGV[2] attempt   ARGV[3] retention (s)
-- ARGV[4] most deliveries of one attempt   ARGV[5] now (ms)
-- ARGV[6] lease (ms): how long a begun attempt holds the execution (its hard limit + the bound)
-- ARGV[7] the broker's delivery tag of the message being run ("" if unknown)
--
-- Returns "run" or "rerun" when the worker should run this attempt ("rerun": a delivery after
-- the process running it was lost, counted), or what forbids it:
--   "done"     already completed: a redelivered or re-published message is skipped;
--   "stale"    an attempt that already finished and waits for its retry, or older than one
--              already started;
--   "running"  a copy of an attempt that a live worker runs now (another message: a re-publish,
--              or the original once a re-published copy started), while its lease lasts;
--   "poison"   delivered ARGV[4] times without finishing (the caller dead-letters it), so a
--              message that kills its process every time is not redelivered forever.
-- A "running" attempt seen again is a lost delivery when it comes back with the same delivery
-- tag (the broker only hands a message back once its holder is gone: a pool process died), or
-- with another once the lease has run out (the worker died: the ledger published it again).
-- Each run (re)starts the lease, and moves the ledger's deadline to its end: no copy is
-- published while a live attempt holds the execution.
local state = redis.call('GET', KEYS[1])
local exec_id, attempt, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[5])
local tag = ARGV[7]
local deliveries = 1
if state then
  local name, seen, count, lease, holder =
    string.match(state, '^([^|]*)|(%d+)|?(%d*)|?(%d*)|?(.*)$')
  seen = tonumber(seen)
  if name == 'done' then
    redis.call('ZREM', KEYS[2], exec_id)  -- nothing left to account for
    redis.call('HDEL', KEYS[3], exec_id)
    return 'done'
  end
  if name == 'retrying' and attempt <= seen then return 'stale' end
  if name == 'running' and attempt < seen then return 'stale' end
  if name == 'running' and attempt == seen then
    if holder ~= tag and (tonumber(lease) or 0) > now then return 'running' end
    deliveries = (tonumber(count) or 1) + 1
    if deliveries > tonumber(ARGV[4]) then return 'poison' end
  end
end
local lease_until = now + tonumber(ARGV[6])
redis.call('SET', KEYS[1], 'running|' .. ARGV[2] .. '|' .. deliveries .. '|' .. lease_until ..
  '|' .. tag, 'EX', ARGV[3])
redis.call('ZADD', KEYS[2], 'XX', lease_until, exec_id)
if deliveries > 1 then return 'rerun' end
return 'run'
