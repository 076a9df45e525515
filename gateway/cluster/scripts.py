"""The Lua that makes each cluster decision one atomic step inside Redis.

Every expiry is on Redis's own clock (`TIME`), so nodes whose clocks disagree
still agree on who is alive. Some scripts build key names from values they
read, which one Redis (with replicas) allows and Redis Cluster does not: the
gateway needs a single Redis primary, not a sharded cluster.
"""

from __future__ import annotations

NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

ADMIT = (
    NOW_MS
    + """
-- KEYS: cluster slots, node slots. ARGV: slot, cluster max (0: none), node max, ttl ms.
-- Slots are sorted-set members scored by their expiry: a node that dies stops
-- refreshing its own, and the next admission anywhere drops them.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local cluster_max = tonumber(ARGV[2])
if cluster_max > 0 and redis.call('ZCARD', KEYS[1]) >= cluster_max then return 'cluster_full' end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 'full' end
local expires = now + tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], expires, ARGV[1])
redis.call('ZADD', KEYS[2], expires, ARGV[1])
return 'ok'
"""
)

REFRESH = (
    NOW_MS
    + """
-- KEYS: cluster slots, node slots, live calls. ARGV: ttl ms, then slots, '--', then call ids.
-- Everything this member still holds is put back even if it expired meanwhile
-- (a Redis restart, a stall longer than the TTL): its calls go on, so they
-- count. Expired entries of members that went away are dropped here too.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local expires = now + tonumber(ARGV[1])
local calls = false
for i = 2, #ARGV do
  if ARGV[i] == '--' then calls = true
  elseif calls then redis.call('ZADD', KEYS[3], expires, ARGV[i])
  else
    redis.call('ZADD', KEYS[1], expires, ARGV[i])
    redis.call('ZADD', KEYS[2], expires, ARGV[i])
  end
end
return expires
"""
)

END_CALL = """
-- KEYS: the ended list, the ended record key prefix. ARGV: call id, record, kept, ttl s.
-- Only the newest `kept` ended records stay: older ones go with their list entry.
redis.call('SET', KEYS[2] .. ARGV[1], ARGV[2], 'EX', ARGV[4])
redis.call('LPUSH', KEYS[1], ARGV[1])
while redis.call('LLEN', KEYS[1]) > tonumber(ARGV[3]) do
  local old = redis.call('RPOP', KEYS[1])
  if old ~= ARGV[1] then redis.call('DEL', KEYS[2] .. old) end
end
"""

LIVE_ADD = (
    NOW_MS
    + """
-- KEYS: live calls. ARGV: call id, ttl ms.
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
"""
)

COUNT = (
    NOW_MS
    + """
-- KEYS: a slots set. The slots alive now.
return redis.call('ZCOUNT', KEYS[1], now, '+inf')
"""
)

LIVE = (
    NOW_MS
    + """
-- KEYS: live calls. The ids of calls whose node is alive.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
)

ISSUE_TOKEN = """
-- KEYS: token key prefix, the CallSid's token key, the CallSid's redeemed key.
-- ARGV: new token, CallSid, ttl ms. Returns the token to hand out, or false.
if ARGV[2] ~= '' then
  if redis.call('EXISTS', KEYS[3]) == 1 then return false end
  local existing = redis.call('GET', KEYS[2])
  if existing then return existing end
end
redis.call('SET', KEYS[1] .. ARGV[1], ARGV[2], 'PX', ARGV[3])
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3]) end
return ARGV[1]
"""

REDEEM_TOKEN = """
-- KEYS: the token's key, the CallSid key prefixes (token, redeemed).
-- ARGV: ttl ms, the CallSid the stream claims.
-- One-time: the first redeem anywhere takes it. Returns the CallSid, or false.
-- A claim naming another CallSid takes nothing (returns the token's own
-- CallSid for the caller to refuse): a stream that saw the token cannot burn it.
local sid = redis.call('GET', KEYS[1])
if not sid then return false end
if sid ~= '' and sid ~= ARGV[2] then return sid end
redis.call('DEL', KEYS[1])
if sid ~= '' then
  redis.call('DEL', KEYS[2] .. sid)
  redis.call('SET', KEYS[3] .. sid, '1', 'PX', ARGV[1])
end
return sid
"""
