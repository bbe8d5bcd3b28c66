-- lib/account_index.lua: an account's index of one dialect (creation order), included by the
-- scripts that read or change it (``--#include account_index`` at their top; see scripts.py).
--
-- The index of root key R is sorted sets of at most BUCKET_SIZE members, so each stays in
-- Redis's compact (listpack) encoding: ~49 bytes per schedule instead of ~143 in one big one.
--   R:buckets  ZSET    bucket number -> the lowest order it took (its start)
--   R:<n>      ZSET    schedule id -> order, a bucket (orders only grow, so a new schedule
--                      goes in the last bucket, or opens the next one when it is full)
--   R:count    STRING  how many schedules the buckets hold
--   R          ZSET    schedule id -> order, stored before the buckets: read, removed from,
--                      never added to (every order in it is below every bucket's)
-- The keys share R's hash tag (one slot); only R is declared in KEYS.
local BUCKET_SIZE = 128

local function index_count(root)
  return redis.call('ZCARD', root) + tonumber(redis.call('GET', root .. ':count') or '0')
end

-- The highest order in the index, or nil when it is empty.
local function index_newest(root)
  local last = redis.call('ZRANGE', root .. ':buckets', -1, -1)[1]
  local newest = redis.call('ZRANGE', last and (root .. ':' .. last) or root, -1, -1, 'WITHSCORES')
  return newest[2] and tonumber(newest[2])
end

-- Add sid at order (above every order in the index).
local function index_add(root, sid, order)
  local dir = root .. ':buckets'
  local last = redis.call('ZRANGE', dir, -1, -1)[1]
  if not last or redis.call('ZCARD', root .. ':' .. last) >= BUCKET_SIZE then
    last = tostring(last and tonumber(last) + 1 or 0)
    redis.call('ZADD', dir, order, last)
  end
  redis.call('ZADD', root .. ':' .. last, order, sid)
  redis.call('INCR', root .. ':count')
end

-- The key holding sid, or nil. hint: its created ms x P, at most its order (an order is only
-- ever raised above it): the search starts at the bucket that holds the hint and goes forward,
-- then looks in the buckets before it (only a hint that was wrong gets there).
local function index_find(root, sid, hint)
  if redis.call('ZSCORE', root, sid) then return root end
  local dir = root .. ':buckets'
  local from = redis.call('ZREVRANGEBYSCORE', dir, hint, '-inf', 'LIMIT', 0, 1)[1]
  local low = from and redis.call('ZSCORE', dir, from) or '-inf'
  local function look(buckets)
    for _, n in ipairs(buckets) do
      if redis.call('ZSCORE', root .. ':' .. n, sid) then return root .. ':' .. n end
    end
  end
  return look(redis.call('ZRANGEBYSCORE', dir, low, '+inf'))
    or (from and look(redis.call('ZRANGEBYSCORE', dir, '-inf', '(' .. low)))
end

local function index_remove(root, sid, hint)
  local key = index_find(root, sid, hint)
  if not key then return end
  redis.call('ZREM', key, sid)
  if key == root then return end
  if redis.call('DECR', root .. ':count') <= 0 then redis.call('DEL', root .. ':count') end
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', root .. ':buckets', string.sub(key, #root + 2))
  end
end

-- Up to limit (-1: all) {id, order} pairs, flat, in creation order: the first ones, or those
-- ordered above after (a ZRANGEBYSCORE bound: '-inf' or '(<order>').
local function index_range(root, after, limit)
  local out = {}
  local function take(key)  -- false once limit rows are taken
    local want = limit < 0 and -1 or limit - #out / 2
    local rows = redis.call('ZRANGEBYSCORE', key, after, '+inf', 'WITHSCORES', 'LIMIT', 0, want)
    for _, v in ipairs(rows) do out[#out + 1] = v end
    return limit < 0 or #out / 2 < limit
  end
  if limit == 0 or not take(root) then return out end
  local dir = root .. ':buckets'
  local from = redis.call('ZREVRANGEBYSCORE', dir, after, '-inf', 'LIMIT', 0, 1)[1]
  local low = from and redis.call('ZSCORE', dir, from) or '-inf'
  for _, n in ipairs(redis.call('ZRANGEBYSCORE', dir, low, '+inf')) do
    if not take(root .. ':' .. n) then break end
  end
  return out
end
