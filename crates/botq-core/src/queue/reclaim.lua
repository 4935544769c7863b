-- botq worker: take over deliveries whose consumer stopped (crash, kill -9,
-- lost network) and dead-letter those redelivered too often.
--
-- KEYS[1] stream   KEYS[2] dead-letter stream
-- ARGV[1] group   ARGV[2] this consumer   ARGV[3] min idle ms (the lease)
-- ARGV[4] cursor  ARGV[5] count   ARGV[6] max deliveries   ARGV[7] now ms
-- ARGV[8] DLQ max length
--
-- Returns {next cursor, {id, env, att, deliveries}..., {env}...}: the entries
-- now owned by this consumer, to be handled like fresh reads, and the
-- envelopes of those dead-lettered here. An entry whose delivery count passed
-- the limit (a poison message that keeps killing workers) goes to the
-- dead-letter stream instead; the caller counts it out of its chat's fair
-- share. Entries deleted from the stream while pending are acked so they stop
-- haunting the PEL.

local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local out = {}
local dead = {}
for _, entry in ipairs(r[2]) do
  local id, fields = entry[1], entry[2]
  local env, att = nil, '0'
  if fields then
    for i = 1, #fields, 2 do
      if fields[i] == 'env' then env = fields[i + 1] end
      if fields[i] == 'att' then att = fields[i + 1] end
    end
  end
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  local deliveries = (p[1] and p[1][4]) or 1
  if not env then
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
  elseif deliveries > tonumber(ARGV[6]) then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], '*',
      'env', env, 'reason', 'delivery_limit', 'att', att, 'failed_at', ARGV[7], 'src', id, 'by', ARGV[2])
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    dead[#dead + 1] = env
  else
    out[#out + 1] = {id, env, att, deliveries}
  end
end
if r[3] then
  for _, id in ipairs(r[3]) do
    redis.call('XACK', KEYS[1], ARGV[1], id)
  end
end
return {r[1], out, dead}
