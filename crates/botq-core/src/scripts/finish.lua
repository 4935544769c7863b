-- botq worker: settle one handled delivery, atomically.
--
-- KEYS[1] stream   KEYS[2] claim key   KEYS[3] chat lock (released only if ours;
--         with ordering off it never exists)
-- KEYS[4] delayed set (retry) or dead-letter stream (dead)
-- ARGV[1] group   ARGV[2] entry id   ARGV[3] delivery token   ARGV[4] verdict
--   verdict "done":  ARGV[5] done-marker TTL ms
--   verdict "retry": ARGV[5] due time ms, ARGV[6] delayed member ("<attempts>:<envelope>")
--   verdict "dead":  ARGV[5] reason, ARGV[6] attempts, ARGV[7] now ms, ARGV[8] envelope, ARGV[9] DLQ max length
--   verdict "drop":  (duplicate delivery) nothing else
--
-- Every verdict acks and deletes the entry (XACK + XDEL keeps stream memory
-- bounded) in the same step that records what happens next, so a crash can
-- never leave an event both gone from the stream and not scheduled, dead or done.

redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])

local verdict = ARGV[4]
if verdict == 'drop' then
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
  redis.call('ZADD', KEYS[4], ARGV[5], ARGV[6])
elseif verdict == 'dead' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[9], '*',
    'env', ARGV[8], 'reason', ARGV[5], 'att', ARGV[6], 'failed_at', ARGV[7], 'src', ARGV[2])
end
return 1
