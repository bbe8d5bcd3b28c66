-- lib/due_index.lua: the due index (schedule -> next fire), included by the scripts that read
-- or change it (``--#include due_index`` at their top; see scripts.py).
--
-- The due index of root key D is sorted sets of at most DUE_BUCKET_SIZE schedules, so each
-- stays in Redis's compact (listpack) encoding: ~45 bytes per schedule instead of ~121-136 as
-- one member of one big sorted set (a skiplist).
--   D:<n>      ZSET    schedule id -> next fire (ms): bucket n
--   D:buckets  ZSET    bucket number -> its earliest next fire (the buckets that hold any)
--   D:seq      STRING  how many schedules were given a bucket: the k-th (from 0) gets bucket
--                      k // DUE_BUCKET_SIZE, so a bucket never holds more
--   D:count    STRING  how many the buckets hold
--   D          ZSET    schedule id -> next fire, of schedules stored before the buckets: read
--                      and removed from, never added to (a schedule's next fire or edit
--                      gives it a bucket: due_bucket_given)
-- A schedule keeps its bucket for life, and its definition names it ("<version>.<bucket>|JSON",
-- see put_schedule.lua), so no search finds it. The claim reads the buckets by their earliest
-- fire, so an idle tick still reads one entry. The keys share D's hash tag (one slot); only D is
-- declared in KEYS.
local DUE_BUCKET_SIZE = 128

-- The bucket a stored definition names, or nil (stored before the buckets: its entry is in D).
local function due_bucket_of(definition)
  return string.match(definition, '^%d+%.(%d+)|')
end

-- The bucket of a schedule given one now.
local function due_new_bucket(root)
  local k = redis.call('INCR', root .. ':seq') - 1
  return tostring(math.floor(k / DUE_BUCKET_SIZE))
end

-- The bucket a definition names; one stored before the buckets is given one now, written in
-- front of it (definitions: its hash; the version taken out of versions, if it was there).
local function due_bucket_given(root, definitions, versions, sid, definition, version)
  local bucket = due_bucket_of(definition)
  if bucket then return bucket end
  bucket = due_new_bucket(root)
  local json = string.match(definition, '^%d+|(.*)$') or definition
  redis.call('HSET', definitions, sid, version .. '.' .. bucket .. '|' .. json)
  redis.call('HDEL', versions, sid)
  return bucket
end

local function due_key(root, bucket)
  return bucket and (root .. ':' .. bucket) or root
end

local function due_count_add(root, delta)
  if delta ~= 0 and redis.call('INCRBY', root .. ':count', delta) <= 0 then
    redis.call('DEL', root .. ':count')
  end
end

-- Bucket n's place in D:buckets: its earliest next fire, or none once it is empty.
local function due_refresh(root, bucket)
  local first = redis.call('ZRANGE', root .. ':' .. bucket, 0, 0, 'WITHSCORES')
  if first[2] then
    redis.call('ZADD', root .. ':buckets', first[2], bucket)
  else
    redis.call('ZREM', root .. ':buckets', bucket)
  end
end

-- Set sid's next fire in its bucket (nil: in D). Returns 1 when sid was not in the buckets
-- (for due_count_add); the caller refreshes the bucket (once per script is enough).
local function due_set(root, bucket, sid, ms)
  if not bucket then
    redis.call('ZADD', root, ms, sid)
    return 0
  end
  return redis.call('ZADD', root .. ':' .. bucket, ms, sid)
end

-- Take sid out of the index (bucket nil: stored before the buckets), bucket refreshed.
local function due_unset(root, bucket, sid)
  redis.call('ZREM', root, sid)
  if bucket and redis.call('ZREM', root .. ':' .. bucket, sid) == 1 then
    due_count_add(root, -1)
    due_refresh(root, bucket)
  end
end

-- sid's next fire (a string), or nil.
local function due_score(root, definition, sid)
  return redis.call('ZSCORE', due_key(root, due_bucket_of(definition)), sid)
end

-- Take up to room entries due by now out of the index, the oldest part first (D, then the
-- buckets by their earliest fire): found(sid, due ms) is called for each.
local function due_take(root, now, room, found)
  local taken = 0
  local function take_from(key)
    local rows = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'WITHSCORES', 'LIMIT', 0,
                            room - taken)
    local count = #rows / 2
    -- the first count by rank: out in one step (not count steps through the listpack)
    if count > 0 then redis.call('ZREMRANGEBYRANK', key, 0, count - 1) end
    for i = 1, #rows, 2 do found(rows[i], rows[i + 1]) end
    taken = taken + count
    return count
  end
  take_from(root)
  local from_buckets = 0
  while taken < room do
    local bucket = redis.call('ZRANGEBYSCORE', root .. ':buckets', '-inf', now, 'LIMIT', 0, 1)[1]
    if not bucket then break end
    from_buckets = from_buckets + take_from(root .. ':' .. bucket)
    due_refresh(root, bucket)
  end
  due_count_add(root, -from_buckets)
end

-- The earliest next fire in the index (a number), or nil when it is empty.
local function due_first(root)
  local earliest
  for _, key in ipairs({root, root .. ':buckets'}) do
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]
    if first and (not earliest or tonumber(first) < earliest) then earliest = tonumber(first) end
  end
  return earliest
end
