-- publish.lua: publish one ready-made message outside the beat (a run now, a job's lifecycle
-- event) and record it in the ledger in the same step, as commit.lua does for fires.
--
-- KEYS[1] the Celery queue list
-- KEYS[2] published      ZSET  ledger id -> deadline (ms)
-- KEYS[3] published_messages HASH ledger id -> "<copies>|<queue key>|<message>"
-- ARGV[1] ledger id   ARGV[2] message   ARGV[3] deadline (ms): now + the bound
--
-- Returns 1.
redis.call('LPUSH', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], '0|' .. KEYS[1] .. '|' .. ARGV[2])
return 1
