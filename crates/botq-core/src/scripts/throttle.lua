-- botq worker: may one more reply go out under this limit now? (GCRA)
--
-- KEYS[1] the limit's key (holds the theoretical arrival time, integer µs)
-- ARGV[1] now, Unix ms (passed in: tests control time, replicas agree)
-- ARGV[2] emission interval, µs per reply
-- ARGV[3] burst, replies
--
-- Returns 0 when allowed (and records it), else how many ms to wait. A
-- denied call records nothing, so waiting callers do not push each other back.
-- Shared by every worker replica, so N replicas together never exceed the limit.

local now_us = tonumber(ARGV[1]) * 1000
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now_us)
if tat < now_us then tat = now_us end
local new_tat = tat + interval
local allowed_at = new_tat - interval * burst
if allowed_at > now_us then
  return math.ceil((allowed_at - now_us) / 1000)
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.max(1, math.ceil((new_tat - now_us) / 1000)))
return 0
