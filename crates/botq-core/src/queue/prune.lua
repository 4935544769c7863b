-- botq worker: delete one idle consumer, but only if it owns no pending entries.
--
-- KEYS[1] stream   ARGV[1] group   ARGV[2] consumer
-- Returns 1 when deleted, 0 when it had pending entries (XGROUP DELCONSUMER
-- would silently drop them, losing their events).

local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if p[1] then
  return 0
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
