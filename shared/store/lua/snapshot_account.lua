-- snapshot_account.lua: every schedule of one account, read in one atomic step (for a backup).
--
-- KEYS[1] definitions     HASH  schedule id -> "<version>.<due bucket>|<JSON>" (put_schedule.lua)
-- KEYS[2] due index       its root key (buckets: see lib/due_index.lua)
-- KEYS[3] run_counts      HASH  schedule id -> fires dispatched so far
-- KEYS[4] task counters   HASH  the account's last issued task / repeat-item ids
-- KEYS[5..] account indexes  their root keys, one per dialect of the account (buckets: see
--                            lib/account_index.lua)
-- (no ARGV)
--
-- Returns {counters as HGETALL's flat array,
--          {schedule id, definition JSON, next fire ms or "-1", runs, ...}}
-- (the id too: a stored definition leaves it out, see shared.store.definitions).
--#include account_index
--#include due_index

local out = {}
for i = 5, #KEYS do
  local rows = index_range(KEYS[i], '-inf', -1)
  for r = 1, #rows, 2 do
    local sid = rows[r]
    local definition = redis.call('HGET', KEYS[1], sid)
    if definition then
      out[#out + 1] = sid
      out[#out + 1] = definition
      out[#out + 1] = due_score(KEYS[2], definition, sid) or '-1'
      out[#out + 1] = redis.call('HGET', KEYS[3], sid) or '0'
    end
  end
end
return {redis.call('HGETALL', KEYS[4]), out}
