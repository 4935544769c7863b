-- botq worker: settle handled deliveries, a batch at a time (see batch.rs:
-- the settlements are independent; each is done exactly as it would be
-- alone, in order, and the whole batch is one atomic step).
--
-- KEYS[1] the queue's stream   KEYS[2] its delayed set   KEYS[3] its dead-letter stream
-- KEYS[4] the queue's backlogged set   KEYS[5] its count of backlogged events
-- per settlement i (i = 1 .. n), k = 5 + 4(i-1):
--   KEYS[k+1] the claim key   KEYS[k+2] the chat lock (released only if ours;
--             with ordering off it never exists)
--   KEYS[k+3] the chat's fair-share counter   KEYS[k+4] its backlog
-- ARGV[1] group   ARGV[2] now, Unix ms   ARGV[3] the settling consumer (recorded
--   on dead letters as `by`, so an operator sees which replica gave up)
-- per settlement i, a = 3 + 11(i-1):
--   ARGV[a+1] entry id   ARGV[a+2] delivery token   ARGV[a+3] verdict
--   ARGV[a+4 .. a+8] the verdict's own arguments (unused ones empty):
--     "done":  done-marker TTL ms
--     "retry": due time ms, delayed member ("<attempts>:<envelope>")
--     "dead":  reason, attempts, now ms, envelope, DLQ max length
--     "drop":  (duplicate delivery) nothing
--     "release": no entry; an event of the chat left the queue elsewhere
--                (the reclaimer dead-lettered it): count it out, pump
--     "pump":    no entry; just move backlog into the stream if there is room
--   ARGV[a+9] fair share: events of the chat allowed in the stream (0 = off)
--   ARGV[a+10] counter TTL ms   ARGV[a+11] backlogged member "<bot>:<chat>"
--
-- Returns the number of settlements.
--
-- Every verdict acks and deletes the entry (XACK + XDEL keeps stream memory
-- bounded) in the same step that records what happens next, so a crash can
-- never leave an event both gone from the stream and not scheduled, dead or done.
-- An event that leaves the queue (done, dead, drop) frees its chat's place in
-- the stream, and the chat's next waiting event moves in, in the same step.

local stream, delayed, dlq, backlogged, backlog_total = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local group, now = ARGV[1], ARGV[2]

-- Fair share: count the chat's event out (when `release`), then move waiting
-- events from its backlog into the stream while it has room.
local function pump(k, a, release)
  local max_queued = tonumber(ARGV[a + 9] or '0')
  if max_queued <= 0 then return end
  local counter, backlog, member = KEYS[k + 3], KEYS[k + 4], ARGV[a + 11]
  -- The common case, an event leaving a chat with nothing waiting: count it
  -- out (DECR keeps the counter's TTL) and stop. Nothing to move, and no
  -- backlogged member to drop: whoever empties a backlog drops its member
  -- below, and ingest adds one only with an event in the backlog.
  if release and redis.call('LLEN', backlog) == 0 then
    if redis.call('DECR', counter) <= 0 then redis.call('DEL', counter) end
    return
  end
  local queued = tonumber(redis.call('GET', counter) or '0')
  local changed = release
  if release then queued = queued - 1 end
  if queued < 0 then queued = 0 end
  while queued < max_queued do
    local env = redis.call('LPOP', backlog)
    if not env then break end
    redis.call('XADD', stream, '*', 'env', env)
    if redis.call('DECR', backlog_total) <= 0 then redis.call('DEL', backlog_total) end
    queued = queued + 1
    changed = true
  end
  -- Only a real change refreshes the counter's TTL: a miscounted (too high)
  -- counter that nothing moves must still expire, or its backlog stalls.
  if changed then
    if queued > 0 then
      redis.call('SET', counter, queued, 'PX', ARGV[a + 10])
    else
      redis.call('DEL', counter)
    end
  end
  if redis.call('LLEN', backlog) == 0 then
    redis.call('ZREM', backlogged, member)
  elseif changed then
    redis.call('ZADD', backlogged, now, member)
  end
end

local function settle(k, a)
  local claim, chat_lock = KEYS[k + 1], KEYS[k + 2]
  local id, token, verdict = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  if verdict == 'pump' or verdict == 'release' then
    pump(k, a, verdict == 'release')
    return
  end

  redis.call('XACK', stream, group, id)
  local deleted = redis.call('XDEL', stream, id)

  if verdict == 'drop' then
    -- Count out only an entry this call really removed (a concurrent settle
    -- of the same entry must not count it twice).
    if deleted == 1 then pump(k, a, true) end
    return
  end

  if verdict == 'done' then
    redis.call('SET', claim, 'done', 'PX', ARGV[a + 4])
  elseif redis.call('GET', claim) == token then
    -- Retry or dead: release our lease so the next attempt (or a replay) can claim it.
    redis.call('DEL', claim)
  end

  if redis.call('GET', chat_lock) == token then
    redis.call('DEL', chat_lock)
  end

  if verdict == 'retry' then
    -- Still the chat's event (it comes back from the delayed set): its place stays taken.
    redis.call('ZADD', delayed, ARGV[a + 4], ARGV[a + 5])
  elseif verdict == 'dead' then
    redis.call('XADD', dlq, 'MAXLEN', '~', ARGV[a + 8], '*',
      'env', ARGV[a + 7], 'reason', ARGV[a + 4], 'att', ARGV[a + 5], 'failed_at', ARGV[a + 6], 'src', id, 'by', ARGV[3])
  end
  if verdict ~= 'retry' and deleted == 1 then
    pump(k, a, true)
  end
end

local n = (#KEYS - 5) / 4
for i = 1, n do
  settle(5 + 4 * (i - 1), 3 + 11 * (i - 1))
end
return n
