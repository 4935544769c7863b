-- botq worker: append to a chat's conversation window and keep it in budget.
--
-- KEYS[1] the window (a list, newest last)
-- ARGV[1] max messages   ARGV[2] max bytes   ARGV[3] TTL ms   ARGV[4..] entries to append
--
-- Returns the entries that fell out (oldest first), for summarising. The
-- newest entry always stays, even when it alone is over the byte budget.

for i = 4, #ARGV do
  redis.call('RPUSH', KEYS[1], ARGV[i])
end
local max_messages, max_bytes = tonumber(ARGV[1]), tonumber(ARGV[2])
local dropped = {}
local n = redis.call('LLEN', KEYS[1])
while n > max_messages do
  dropped[#dropped + 1] = redis.call('LPOP', KEYS[1])
  n = n - 1
end
local total = 0
for _, entry in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  total = total + #entry
end
while total > max_bytes and n > 1 do
  local entry = redis.call('LPOP', KEYS[1])
  total = total - #entry
  dropped[#dropped + 1] = entry
  n = n - 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return dropped
