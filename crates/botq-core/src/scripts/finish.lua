-- botq worker: settle one handled delivery, atomically.
--
-- KEYS[1] stream   KEYS[2] claim key   KEYS[3] chat lock (released only if ours;
--         with ordering off it never exists)
-- KEYS[4] delayed set (retry) or dead-letter stream (dead)
-- KEYS[5] the chat's fair-share counter   KEYS[6] its backlog   KEYS[7] the backlogged set
-- KEYS[8] the queue's count of backlogged events
-- ARGV[1] group   ARGV[2] entry id   ARGV[3] delivery token   ARGV[4] verdict
--   verdict "done":  ARGV[5] done-marker TTL ms
--   verdict "retry": ARGV[5] due time ms, ARGV[6] delayed member ("<attempts>:<envelope>")
--   verdict "dead":  ARGV[5] reason, ARGV[6] attempts, ARGV[7] now ms, ARGV[8] envelope, ARGV[9] DLQ max length
--   verdict "drop":  (duplicate delivery) nothing else
--   verdict "release": no entry; an event of the chat left the queue elsewhere
--                      (the reclaimer dead-lettered it): count it out, pump
--   verdict "pump":    no entry; just move backlog into the stream if there is room
-- ARGV[10] fair share: events of one chat allowed in the stream (0 = off)
-- ARGV[11] counter TTL ms   ARGV[12] backlogged member "<bot>:<chat>"   ARGV[13] now ms
--
-- Every verdict acks and deletes the entry (XACK + XDEL keeps stream memory
-- bounded) in the same step that records what happens next, so a crash can
-- never leave an event both gone from the stream and not scheduled, dead or done.
-- An event that leaves the queue (done, dead, drop) frees its chat's place in
-- the stream, and the chat's next waiting event moves in, in the same step.

-- Fair share: count the chat's event out (when `release`), then move waiting
-- events from its backlog into the stream while it has room.
local function pump(release)
  local max_queued = tonumber(ARGV[10] or '0')
  if max_queued <= 0 then return end
  local queued = tonumber(redis.call('GET', KEYS[5]) or '0')
  local changed = release
  if release then queued = queued - 1 end
  if queued < 0 then queued = 0 end
  while queued < max_queued do
    local env = redis.call('LPOP', KEYS[6])
    if not env then break end
    redis.call('XADD', KEYS[1], '*', 'env', env)
    if redis.call('DECR', KEYS[8]) <= 0 then redis.call('DEL', KEYS[8]) end
    queued = queued + 1
    changed = true
  end
  -- Only a real change refreshes the counter's TTL: a miscounted (too high)
  -- counter that nothing moves must still expire, or its backlog stalls.
  if changed then
    if queued > 0 then
      redis.call('SET', KEYS[5], queued, 'PX', ARGV[11])
    else
      redis.call('DEL', KEYS[5])
    end
  end
  if redis.call('LLEN', KEYS[6]) == 0 then
    redis.call('ZREM', KEYS[7], ARGV[12])
  elseif changed then
    redis.call('ZADD', KEYS[7], ARGV[13], ARGV[12])
  end
end

local verdict = ARGV[4]
if verdict == 'pump' or verdict == 'release' then
  pump(verdict == 'release')
  return 1
end

redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
local deleted = redis.call('XDEL', KEYS[1], ARGV[2])

if verdict == 'drop' then
  -- Count out only an entry this call really removed (a concurrent settle
  -- of the same entry must not count it twice).
  if deleted == 1 then pump(true) end
  return 1
end

if verdict == 'done' then
  redis.call('SET', KEYS[2], 'done', 'PX', ARGV[5])
elseif redis.call('GET', KEYS[2]) == ARGV[3] then
  -- Retry or dead: release our lease so the next attempt (or a replay) can claim it.
  redis.call('DEL', KEYS[2])
end

if redis.call('GET', KEYS[3]) == ARGV[3] then
  redis.call('DEL', KEYS[3])
end

if verdict == 'retry' then
  -- Still the chat's event (it comes back from the delayed set): its place stays taken.
  redis.call('ZADD', KEYS[4], ARGV[5], ARGV[6])
elseif verdict == 'dead' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[9], '*',
    'env', ARGV[8], 'reason', ARGV[5], 'att', ARGV[6], 'failed_at', ARGV[7], 'src', ARGV[2])
end
if verdict ~= 'retry' and deleted == 1 then
  pump(true)
end
return 1
