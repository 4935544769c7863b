-- botq worker: move due retries from the delayed set back into the stream.
--
-- KEYS[1] stream   KEYS[2] delayed set
-- ARGV[1] now ms   ARGV[2] at most this many per call
--
-- Members are "<attempts>:<envelope>". XADD and ZREM happen in one script, so
-- a crash cannot lose a retry or promote it twice. Returns the number moved.

local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local sep = string.find(member, ':', 1, true)
  if sep then
    redis.call('XADD', KEYS[1], '*', 'env', string.sub(member, sep + 1), 'att', string.sub(member, 1, sep - 1))
  end
  redis.call('ZREM', KEYS[2], member)
end
return #due
