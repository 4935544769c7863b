-- botq worker: claim one delivery before handling it.
--
-- KEYS[1] the shard stream
-- KEYS[2] the event's claim key
-- KEYS[3] the chat's ordering lock (absent when per-chat ordering is off)
-- ARGV[1] group   ARGV[2] this consumer   ARGV[3] the stream entry id
-- ARGV[4] this delivery's token (consumer + entry id)
-- ARGV[5] lease, ms: how long the claim and chat lock hold without renewal
--
-- Returns "fresh" | "duplicate" (already done) | "in_progress" (another live
-- lease) | "chat_busy" (another event of the chat is being handled) | "lost"
-- (the entry is no longer pending for this consumer: another replica
-- reclaimed it, or it was settled).
--
-- The claim is a lease, not a lock held forever: a consumer that dies
-- mid-handling leaves it to expire, and the reclaimed entry is claimed afresh.
-- On "fresh" the entry's idle time is reset (XCLAIM JUSTID, which does not
-- count as a delivery), so time spent waiting in this worker before the claim
-- does not make another replica reclaim a delivery that is being handled.

local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if not p[1] or p[1][2] ~= ARGV[2] then
  return 'lost'
end

local v = redis.call('GET', KEYS[2])
if v == 'done' then
  return 'duplicate'
end
if v and v ~= ARGV[4] then
  return 'in_progress'
end
if KEYS[3] then
  local c = redis.call('GET', KEYS[3])
  if c and c ~= ARGV[4] then
    return 'chat_busy'
  end
  redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[5])
end
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[5])
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 'fresh'
