-- begin_execution.lua: a worker's claim on one attempt of one execution.
--
-- KEYS[1] execution state  STRING "<state>|<attempt>", or "running|<attempt>|<deliveries>"
--                                 (expires after the retention period)
-- ARGV[1] attempt   ARGV[2] retention (s)   ARGV[3] most deliveries of one attempt
--
-- Returns "run" when the worker should run this attempt, or the state that forbids it: "done"
-- (already completed: a redelivered message is skipped) or "stale" (an attempt that already
-- finished and is waiting for its retry, or older than one already started). A "running" attempt
-- seen again is a redelivery after the process running it was lost (crashed, killed, out of
-- memory), so it runs again, and its deliveries are counted: past ARGV[3] the answer is
-- "poison" (the caller dead-letters it), so a message that kills its process every time is
-- not redelivered forever.
local state = redis.call('GET', KEYS[1])
local attempt = tonumber(ARGV[1])
local deliveries = 1
if state then
  local name, seen, count = string.match(state, '^([^|]*)|(%d+)|?(%d*)$')
  seen = tonumber(seen)
  if name == 'done' then return 'done' end
  if name == 'retrying' and attempt <= seen then return 'stale' end
  if name == 'running' and attempt < seen then return 'stale' end
  if name == 'running' and attempt == seen then
    deliveries = (tonumber(count) or 1) + 1
    if deliveries > tonumber(ARGV[3]) then return 'poison' end
  end
end
redis.call('SET', KEYS[1], 'running|' .. ARGV[1] .. '|' .. deliveries, 'EX', ARGV[2])
return 'run'
