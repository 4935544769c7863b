-- botq's one GCRA (generic cell rate algorithm), for the ingest rate limits
-- (ingest.lua) and the reply throttle (throttle.lua). It is not a script of
-- its own: `scripts.rs` puts this chunk in front of each script that uses it,
-- so both run the same code and the property tests of the throttle
-- (tests/it/throttle_props.rs) test the ingest limits too.
--
-- A limit's key holds its theoretical arrival time (TAT) in integer µs, so
-- fractional rates (3/s = 333333 µs) do not drift. One more arrival is
-- allowed when the new TAT is at most `burst` intervals ahead of now.

local gcra = {}

-- The TAT after one more arrival at `now_us`, or nil and the µs to wait
-- until it would be allowed. Records nothing.
function gcra.check(key, now_us, interval, burst)
  local tat = tonumber(redis.call('GET', key) or now_us)
  if tat < now_us then tat = now_us end
  local new_tat = tat + interval
  local ahead = new_tat - now_us - interval * burst
  if ahead > 0 then
    return nil, ahead
  end
  return new_tat
end

-- Records an allowed arrival: the key expires when the limit is full again.
function gcra.record(key, now_us, new_tat)
  redis.call('SET', key, string.format('%d', new_tat), 'PX', math.max(1, math.ceil((new_tat - now_us) / 1000)))
end

