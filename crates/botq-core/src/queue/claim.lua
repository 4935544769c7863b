-- botq worker: claim deliveries before handling them, a batch at a time
-- (see batch.rs: the deliveries are independent; each is claimed exactly as
-- it would be alone, in order).
--
-- KEYS[1]       the queue's stream
-- KEYS[2i]      delivery i's claim key (i = 1 .. n)
-- KEYS[2i+1]    its chat's ordering lock (ignored when ARGV[4] is 0)
-- ARGV[1] group   ARGV[2] this consumer
-- ARGV[3] lease, ms: how long the claim and chat lock hold without renewal
-- ARGV[4] per-chat ordering: 1 = take the chat lock, 0 = no chat lock
-- per delivery i, a = 4 + 3(i-1): ARGV[a+1] its stream entry id   ARGV[a+2] its
--   token (consumer + entry id)   ARGV[a+3] verify: 1 = check the entry is
--   still this consumer's and reset its idle time, 0 = skip both
--
-- Returns one answer per delivery, in order: "fresh" | "duplicate" (already
-- done) | "in_progress" (another live lease) | "chat_busy" (another event of
-- the chat is being handled) | "lost" (the entry is no longer pending for
-- this consumer: another replica reclaimed it, or it was settled).
--
-- The claim is a lease, not a lock held forever: a consumer that dies
-- mid-handling leaves it to expire, and the reclaimed entry is claimed afresh.
-- With verify, "fresh" also resets the entry's idle time (XCLAIM JUSTID,
-- which does not count as a delivery), so time spent waiting in this worker
-- before the claim does not make another replica reclaim a delivery that is
-- being handled. The worker skips verify for a delivery it received moments
-- ago (see queue/claim.rs): nothing can have reclaimed it yet, since that
-- takes a whole lease of idleness, and its idle time is still near zero.

local stream, group, consumer, lease = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local ordered = ARGV[4] == '1'

local function claim(claim_key, chat_lock, id, token, verify)
  if verify then
    local p = redis.call('XPENDING', stream, group, id, id, 1)
    if not p[1] or p[1][2] ~= consumer then
      return 'lost'
    end
  end
  local v = redis.call('GET', claim_key)
  if v == 'done' then
    return 'duplicate'
  end
  if v and v ~= token then
    return 'in_progress'
  end
  if ordered then
    local c = redis.call('GET', chat_lock)
    if c and c ~= token then
      return 'chat_busy'
    end
    redis.call('SET', chat_lock, token, 'PX', lease)
  end
  redis.call('SET', claim_key, token, 'PX', lease)
  if verify then
    redis.call('XCLAIM', stream, group, consumer, 0, id, 'JUSTID')
  end
  return 'fresh'
end

local answers = {}
for i = 1, (#KEYS - 1) / 2 do
  local a = 4 + 3 * (i - 1)
  answers[i] = claim(KEYS[2 * i], KEYS[2 * i + 1], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3] == '1')
end
return answers
