-- botq ingest: accept one verified event in a single atomic step.
--
-- KEYS[1]                 the shard's stream
-- KEYS[2 .. 1+n]          the event's dedupe keys (n = ARGV[4])
-- KEYS[2+n]               per-group GCRA key   (only when ARGV[5] > 0)
-- KEYS[next]              per-sender GCRA key  (only when ARGV[7] > 0)
--
-- ARGV[1] now, Unix ms (passed in so tests control time)
-- ARGV[2] dedupe TTL, ms
-- ARGV[3] max backlog (stream length at which we refuse)
-- ARGV[4] n, the number of dedupe keys
-- ARGV[5] group emission interval, µs per event (0 = no group limit)
-- ARGV[6] group burst, events
-- ARGV[7] sender emission interval, µs per event (0 = no sender limit)
-- ARGV[8] sender burst, events
-- ARGV[9] the encoded envelope
-- ARGV[10] fair share: events of one chat allowed in the stream (0 = off); then
--          KEYS[next] the chat's counter, KEYS[next+1] its backlog list,
--          KEYS[next+2] the queue's backlogged set, KEYS[next+3] the queue's
--          count of backlogged events (the backlog bound covers them too)
-- ARGV[11] the counter's TTL, ms   ARGV[12] the backlogged member "<bot>:<chat>"
--
-- Returns {"ok", stream id} | {"ok-backlog"} | {"duplicate"} | {"limited", "group"|"sender"} | {"backlog"}
--
-- Order matters: backlog first (refusing must leave no trace, so the platform's
-- retry is not taken for a duplicate); dedupe before the limits (a retried
-- delivery must not spend rate budget); both limits checked before either is
-- updated (a sender-limited event must not consume the group's budget).

local now = tonumber(ARGV[1])
local n = tonumber(ARGV[4])

local max_backlog = tonumber(ARGV[3])
local max_queued = tonumber(ARGV[10])
local in_backlogs = 0
if max_queued > 0 then
  -- KEYS[#KEYS]: the fair-share keys come last.
  in_backlogs = tonumber(redis.call('GET', KEYS[#KEYS]) or '0')
end
if redis.call('XLEN', KEYS[1]) + in_backlogs >= max_backlog then
  return {'backlog'}
end

for i = 2, 1 + n do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    return {'duplicate'}
  end
end

-- GCRA: the key holds the theoretical arrival time (TAT) in integer µs, so
-- fractional rates (3/s = 333333 µs) do not drift. An event is allowed when
-- the new TAT is at most `burst` intervals ahead of now.
local now_us = now * 1000
local function gcra(key, interval, burst)
  local tat = tonumber(redis.call('GET', key) or now_us)
  if tat < now_us then tat = now_us end
  local new_tat = tat + interval
  if new_tat - now_us > interval * burst then
    return nil
  end
  return new_tat
end

local next_key = 2 + n
local limits = {}
for _, which in ipairs({{'group', 5}, {'sender', 7}}) do
  local interval = tonumber(ARGV[which[2]])
  if interval > 0 then
    local key = KEYS[next_key]
    next_key = next_key + 1
    local new_tat = gcra(key, interval, tonumber(ARGV[which[2] + 1]))
    if not new_tat then
      return {'limited', which[1]}
    end
    limits[#limits + 1] = {key, new_tat}
  end
end

-- Fair share: with the chat's share of the stream taken (or older events of
-- the chat already waiting), the event joins the chat's backlog instead, and
-- moves into the stream when an earlier one finishes (finish.lua).
local to_backlog = false
if max_queued > 0 then
  local inq, backlog = KEYS[next_key], KEYS[next_key + 1]
  to_backlog = redis.call('LLEN', backlog) > 0 or tonumber(redis.call('GET', inq) or '0') >= max_queued
end

for _, l in ipairs(limits) do
  redis.call('SET', l[1], string.format('%d', l[2]), 'PX', math.max(1, math.ceil((l[2] - now_us) / 1000)))
end

local id
if to_backlog then
  redis.call('RPUSH', KEYS[next_key + 1], ARGV[9])
  redis.call('INCR', KEYS[next_key + 3])
  -- NX: the score is the chat's last pump, so a steady inflow cannot hide a stalled backlog.
  redis.call('ZADD', KEYS[next_key + 2], 'NX', now, ARGV[12])
  id = 'backlog'
else
  id = redis.call('XADD', KEYS[1], '*', 'env', ARGV[9])
  if max_queued > 0 then
    redis.call('INCR', KEYS[next_key])
    redis.call('PEXPIRE', KEYS[next_key], ARGV[11])
  end
end
for i = 2, 1 + n do
  redis.call('SET', KEYS[i], id, 'PX', ARGV[2])
end
if to_backlog then
  return {'ok-backlog'}
end
return {'ok', id}
