-- republish.lua: publish again what was published but not begun in time, whatever the broker
-- did with it. Any beat may run it, several at once: each overdue entry is taken by one call.
--
-- KEYS[1] published      ZSET  ledger id -> deadline (ms) (see commit.lua)
-- KEYS[2] published_messages HASH ledger id -> "<copies>|<queue key>|<message>"
-- KEYS[3..] the pools' Celery queue lists
-- ARGV[1] now (ms)   ARGV[2] most entries to take   ARGV[3] the bound (ms)
-- ARGV[4] longest wait between copies (ms)   ARGV[5] how deep to look into a queue (messages)
--
-- Returns {next_deadline, ledger id, queue key, outcome, copies, ledger id, ...}
--   next_deadline: the ledger's earliest deadline after this call (-1 = empty)
--   outcome "republished": copy number <copies> went out (its delivery tag "<tag>~<copies>",
--                          so the broker and the workers tell copies apart); the next deadline
--                          is the bound doubled per copy, at most ARGV[4], so a message that
--                          keeps vanishing is retried without flooding the queue
--           "queued":      the message is still waiting in its queue (among the ARGV[5] oldest):
--                          no copy, looked at again one bound later; or the queue is deeper than
--                          that (a backlog: it most likely waits there too): no copy, looked at
--                          again after one bound per ARGV[5] messages queued (at most ARGV[4]),
--                          so a deep backlog costs the sweep about the same whatever its depth
--           "unknown":     no message or no such queue: dropped from the ledger
local now, limit, bound = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local longest, depth = tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {-1}

local function queue_key(name)
  for i = 3, #KEYS do
    if KEYS[i] == name then return KEYS[i] end
  end
end

local function retagged(message, copies)
  return (string.gsub(message, '"delivery_tag":"([^"]*)"', function(tag)
    return '"delivery_tag":"' .. (string.match(tag, '^(.-)~%d+$') or tag) .. '~' .. copies .. '"'
  end, 1))
end

-- How long to wait before looking again if the message may still be queued, else nil.
local function still_queued(queue, message)
  local queued = redis.call('LLEN', queue)
  if queued > depth then return math.min(bound * math.ceil(queued / depth), longest) end
  -- the oldest messages are at the tail: look from there
  if redis.call('LPOS', queue, message, 'RANK', -1, 'MAXLEN', depth) then return bound end
end

local function republish(id)
  local entry = redis.call('HGET', KEYS[2], id)
  local copies, name, message
  if entry then copies, name, message = string.match(entry, '^(%d+)|([^|]*)|(.*)$') end
  local queue = name and queue_key(name)
  if not queue then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    return name or '', 'unknown', 0
  end
  copies = tonumber(copies)
  local wait = still_queued(queue, message)
  if wait then
    redis.call('ZADD', KEYS[1], now + wait, id)
    return queue, 'queued', copies
  end
  copies = copies + 1
  local copy = retagged(message, copies)
  redis.call('LPUSH', queue, copy)
  redis.call('HSET', KEYS[2], id, copies .. '|' .. queue .. '|' .. copy)
  redis.call('ZADD', KEYS[1], now + math.min(bound * 2 ^ (copies - 1), longest), id)
  return queue, 'republished', copies
end

for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)) do
  local queue, outcome, copies = republish(id)
  local n = #out
  out[n + 1], out[n + 2], out[n + 3], out[n + 4] = id, queue, outcome, copies
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then out[1] = tonumber(first[2]) end
return out
