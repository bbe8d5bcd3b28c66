-- account_index.lua: read one partition's index of an account's schedules of one dialect.
--
-- KEYS[1] account index  its root key (buckets: see lib/account_index.lua)
-- ARGV[1] 'range': ARGV[2] after (a ZRANGEBYSCORE bound, '-inf' = from the first),
--                  ARGV[3] at most this many (-1 = all)
--         'count'
--
-- Returns 'range': {id, order, id, order, ...} in creation order; 'count': how many it holds.
--#include account_index

if ARGV[1] == 'count' then return index_count(KEYS[1]) end
return index_range(KEYS[1], ARGV[2], tonumber(ARGV[3]))
