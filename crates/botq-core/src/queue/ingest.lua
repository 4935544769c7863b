-- botq ingest: accept verified events, a batch at a time (see batch.rs: the
-- events are independent; each is decided exactly as it would be alone, in
-- order, and the whole batch is one atomic step).
--
-- KEYS[1] the queue's stream   KEYS[2] its backlogged set   KEYS[3] its count of backlogged events
-- then per event, in order, starting at KEYS[4]:
--   its n dedupe keys, then 4 keys: the per-group GCRA key, the per-sender
--   GCRA key (either the queue's placeholder when that limit is off), the
--   chat's fair-share counter and its backlog list (placeholders when fair
--   share is off)
-- ARGV[1] now, Unix ms (passed in so tests control time)
-- ARGV[2] dedupe TTL, ms   ARGV[3] max backlog (events in the stream and the backlogs)
-- ARGV[4] fair share: events of one chat allowed in the stream (0 = off)
-- ARGV[5] the fair-share counter's TTL, ms
-- then per event, 7 arguments: n (its number of dedupe keys), group emission
--   interval µs (0 = no group limit), group burst, sender emission interval
--   µs (0 = none), sender burst, the encoded envelope, the backlogged member
--   "<bot>:<chat>"
--
-- Returns one answer per event, in order:
--   {"ok", stream id} | {"ok-backlog"} | {"duplicate"} | {"limited", "group"|"sender"} | {"backlog"}
--
-- Order matters: backlog first (refusing must leave no trace, so the platform's
-- retry is not taken for a duplicate); dedupe before the limits (a retried
-- delivery must not spend rate budget); both limits checked before either is
-- updated (a sender-limited event must not consume the group's budget).

local stream, backlogged, backlog_total = KEYS[1], KEYS[2], KEYS[3]
local now = tonumber(ARGV[1])
local dedupe_ttl, max_backlog = ARGV[2], tonumber(ARGV[3])
local max_queued, counter_ttl = tonumber(ARGV[4]), ARGV[5]
local now_us = now * 1000

-- Events in the stream and in the chat backlogs, read once per batch and
-- counted on as the batch adds to them (the script is one atomic step).
local in_queue = nil
local function queued_now()
  if not in_queue then
    in_queue = redis.call('XLEN', stream)
    if max_queued > 0 then
      in_queue = in_queue + tonumber(redis.call('GET', backlog_total) or '0')
    end
  end
  return in_queue
end

-- One event: its dedupe keys are KEYS[k+1 .. k+n], its other keys follow;
-- its arguments are ARGV[a+1 .. a+7].
local function accept(k, n, a)
  local group_key, sender_key, inq, backlog = KEYS[k + n + 1], KEYS[k + n + 2], KEYS[k + n + 3], KEYS[k + n + 4]
  local env, member = ARGV[a + 6], ARGV[a + 7]

  if queued_now() >= max_backlog then
    return {'backlog'}
  end

  if n > 0 and redis.call('EXISTS', unpack(KEYS, k + 1, k + n)) > 0 then
    return {'duplicate'}
  end

  local limits = {}
  for _, l in ipairs({{'group', group_key, a + 2}, {'sender', sender_key, a + 4}}) do
    local interval = tonumber(ARGV[l[3]])
    if interval > 0 then
      local new_tat = gcra.check(l[2], now_us, interval, tonumber(ARGV[l[3] + 1]))
      if not new_tat then
        return {'limited', l[1]}
      end
      limits[#limits + 1] = {l[2], new_tat}
    end
  end

  -- Fair share: with the chat's share of the stream taken (or older events of
  -- the chat already waiting), the event joins the chat's backlog instead, and
  -- moves into the stream when an earlier one finishes (finish.lua).
  local to_backlog, queued = false, 0
  if max_queued > 0 then
    if redis.call('LLEN', backlog) > 0 then
      to_backlog = true
    else
      queued = tonumber(redis.call('GET', inq) or '0')
      to_backlog = queued >= max_queued
    end
  end

  for _, l in ipairs(limits) do
    gcra.record(l[1], now_us, l[2])
  end

  local id
  if to_backlog then
    redis.call('RPUSH', backlog, env)
    redis.call('INCR', backlog_total)
    -- NX: the score is the chat's last pump, so a steady inflow cannot hide a stalled backlog.
    redis.call('ZADD', backlogged, 'NX', now, member)
    id = 'backlog'
  else
    id = redis.call('XADD', stream, '*', 'env', env)
    if max_queued > 0 then
      redis.call('SET', inq, queued + 1, 'PX', counter_ttl)
    end
  end
  in_queue = in_queue + 1
  for i = k + 1, k + n do
    redis.call('SET', KEYS[i], id, 'PX', dedupe_ttl)
  end
  if to_backlog then
    return {'ok-backlog'}
  end
  return {'ok', id}
end

local answers = {}
local k, a = 3, 5
while a < #ARGV do
  local n = tonumber(ARGV[a + 1])
  answers[#answers + 1] = accept(k, n, a)
  k = k + n + 4
  a = a + 7
end
return answers
