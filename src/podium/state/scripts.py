"""The Lua script that makes an admission one Redis round trip.

``KEYS``: the counters' keys, then the keys to prefetch. ``ARGV[1]``: a JSON array with one entry per
counter, ``[kind, limit, cost, window_ms, slots, lease_id]`` (kind ``w``indow, ``p``eriod or
``l``ease). The clock is Redis's own (``TIME``), so replicas with skewed clocks share one window.

Reply: ``[failed (1-based, 0 = admitted), retry_ms (-1 never, -2 unknown), now_ms, value...]``.
Nothing is counted unless every counter admits; the prefetched values are read either way.

Windows are hashes of slot number -> usage; slots that left the window are deleted as they are
found. Periods are plain counters with an expiry; leases are sorted sets scored by expiry.
"""

from __future__ import annotations

__all__ = ["ADMIT"]

ADMIT = r"""
local spec = cjson.decode(ARGV[1])
local n = #spec
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local failed, retry = 0, 0
local current = {}
for i = 1, n do
  local c = spec[i]
  local key, kind, limit, cost, window = KEYS[i], c[1], tonumber(c[2]), tonumber(c[3]), tonumber(c[4])
  local used = 0
  if kind == 'w' then
    local slots = tonumber(c[5])
    local slot_ms = window / slots
    local cur = math.floor(now / slot_ms)
    local oldest = cur - slots + 1
    current[i] = cur
    local h = redis.call('HGETALL', key)
    local live, stale = {}, {}
    for j = 1, #h, 2 do
      local s = tonumber(h[j])
      if s < oldest then
        stale[#stale + 1] = h[j]
      else
        local v = tonumber(h[j + 1])
        used = used + v
        live[#live + 1] = {s, v}
      end
    end
    if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
    if used + cost > limit or (cost == 0 and used >= limit) then
      failed = i
      if cost > limit then
        retry = -1
      else
        table.sort(live, function(a, b) return a[1] < b[1] end)
        local need, freed = used + cost - limit, 0
        retry = window
        for _, sv in ipairs(live) do
          freed = freed + sv[2]
          if freed >= need then
            retry = math.max(0, (sv[1] + slots) * slot_ms - now)
            break
          end
        end
      end
      break
    end
  elseif kind == 'p' then
    used = tonumber(redis.call('GET', key) or '0')
    if used + cost > limit or (cost == 0 and used >= limit) then
      failed = i
      if cost > limit then retry = -1 else retry = window end
      break
    end
  else
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    used = redis.call('ZCARD', key)
    if used + 1 > limit then
      failed = i
      if limit < 1 then retry = -1 else retry = -2 end
      break
    end
  end
end
if failed == 0 then
  for i = 1, n do
    local c = spec[i]
    local key, kind, cost, window = KEYS[i], c[1], tonumber(c[3]), tonumber(c[4])
    if kind == 'w' then
      redis.call('HINCRBYFLOAT', key, current[i], cost)
      redis.call('PEXPIRE', key, math.ceil(window + window / tonumber(c[5])))
    elseif kind == 'p' then
      if cost ~= 0 then
        redis.call('INCRBYFLOAT', key, cost)
        redis.call('PEXPIRE', key, math.ceil(window))
      end
    else
      redis.call('ZADD', key, now + window, c[6])
      redis.call('PEXPIRE', key, math.ceil(window))
    end
  end
end
local reply = {failed, math.floor(retry), now}
for j = n + 1, #KEYS do
  reply[#reply + 1] = redis.call('GET', KEYS[j])
end
return reply
"""
