-- botqctl: move one dead letter back into its stream, atomically.
--
-- KEYS[1] dead-letter stream   KEYS[2] the queue stream it came from
-- KEYS[3] the event's claim key (the queue's placeholder when the envelope is unreadable)
-- ARGV[1] dead-letter entry id
--
-- Returns the new stream entry id, or nil when the entry is gone (already
-- replayed or purged). The event re-enters with `att` 0, so it gets a fresh
-- retry budget; its claim key is dropped so no stale lease or marker keeps a
-- worker from claiming it. Read, re-add and delete happen in one step: a
-- replay can neither lose the event nor add it twice.

local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #e == 0 then
  return false
end
local fields, env = e[1][2], nil
for i = 1, #fields, 2 do
  if fields[i] == 'env' then env = fields[i + 1] end
end
if not env then
  return redis.error_reply('dead letter ' .. ARGV[1] .. ' has no envelope')
end
local id = redis.call('XADD', KEYS[2], '*', 'env', env, 'att', '0')
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3])
return id
