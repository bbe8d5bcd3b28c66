-- begin_execution.lua: a worker's claim on one attempt of one execution.
--
-- KEYS[1] execution state  STRING "<state>|<attempt>" (expires after the retention period)
-- ARGV[1] attempt   ARGV[2] retention (s)
--
-- Returns "run" when the worker should run this attempt, or the state that forbids it: "done"
-- (already completed: a redelivered message is skipped) or "stale" (an attempt that already
-- finished and is waiting for its retry, or older than one already started). A "running" attempt
-- seen again is a redelivery after its worker was lost, so it runs again.
local state = redis.call('GET', KEYS[1])
if state then
  local name, seen = string.match(state, '^([^|]*)|(%d+)$')
  local attempt = tonumber(ARGV[1])
  seen = tonumber(seen)
  if name == 'done' then return 'done' end
  if name == 'retrying' and attempt <= seen then return 'stale' end
  if name == 'running' and attempt < seen then return 'stale' end
end
redis.call('SET', KEYS[1], 'running|' .. ARGV[1], 'EX', ARGV[2])
return 'run'
