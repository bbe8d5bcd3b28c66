-- partition_lease.lua: take, keep or give up one partition's lease (SCHEDULER_PARTITIONS > 1).
--
-- KEYS[1] partition_owner STRING the token of the beat claiming this partition, expiring with
--                                its lease
-- ARGV[1] the beat's token   ARGV[2] "take" (take it if free, renew it if ours) or "drop"
--                            (give it up if ours)   ARGV[3] lease (ms), for "take"
--
-- Returns 1 when the partition is ours after the call ("take") or was ours ("drop"), else 0.
-- The lease only shares the work: a beat that lost one while it held claims cannot publish them
-- twice, since commit.lua checks each claim's own token (the fencing token) as before.
local owner = redis.call('GET', KEYS[1])
if ARGV[2] == 'drop' then
  if owner == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
  end
  return 0
end
if owner and owner ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[3]))
return 1
