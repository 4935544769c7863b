-- botq worker: may one more reply go out under this limit now? (GCRA, gcra.lua)
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
local new_tat, wait_us = gcra.check(KEYS[1], now_us, tonumber(ARGV[2]), tonumber(ARGV[3]))
if not new_tat then
  return math.ceil(wait_us / 1000)
end
gcra.record(KEYS[1], now_us, new_tat)
return 0
