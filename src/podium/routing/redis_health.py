"""Deployment health shared by every replica through Redis.

The request path reads and writes only the local :class:`~podium.routing.health.DeploymentHealth`
objects (so it never waits on Redis). Every ``routing.sync_interval_ms`` one Lua script — one round
trip, whatever the traffic — sends what this replica saw since the last exchange (calls, failures,
latencies, tokens, calls in flight, a circuit it opened or closed) and returns the merged state of
every deployment: the shared breaker (``open_until``, consecutive failures, the error-rate window),
the moving averages, this minute's requests and tokens, and the other replicas' calls in flight.

Keys (``<state.key_prefix>rt:<deployment>`` and its ``:w`` window, ``:m`` minute and ``:in``
in-flight hashes) expire on their own. When Redis cannot be reached each replica goes on with its
local view — logged once, shown in ``/readyz`` — unless ``state.on_unavailable`` is ``closed``, in
which case routing refuses requests until Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from podium.config.routing import Breaker
from podium.routing.health import DeploymentHealth, LocalHealth

__all__ = ["RedisHealth"]

log = logging.getLogger("podium.routing")

_SCRIPT = """
local p = KEYS[1]
local a = cjson.decode(ARGV[1])
local now = a.now
local cfg = a.cfg
local width = cfg.window / 10
local slot = math.floor(now / width)
local minute = math.floor(now / 60)
local function ewma(old, pair)
  local n = pair[2]
  if n == 0 then return old end
  local mean = pair[1] / n
  if not old then return mean end
  local keep = (1 - cfg.alpha) ^ n
  return old * keep + mean * (1 - keep)
end
local function window(k)
  local fields = {}
  for i = slot - 9, slot do
    fields[#fields + 1] = i .. ':ok'
    fields[#fields + 1] = i .. ':err'
  end
  return redis.call('HMGET', k .. ':w', unpack(fields))
end
for dep, d in pairs(a.deltas) do
  local k = p .. dep
  local h = redis.call('HMGET', k, 'open_until', 'consec', 'lat', 'ttft')
  local open_until = tonumber(h[1]) or 0
  local consec = tonumber(h[2]) or 0
  local lat = ewma(tonumber(h[3]), d.lat)
  local ttft = ewma(tonumber(h[4]), d.ttft)
  if d.ok > 0 or d.err > 0 then
    redis.call('HINCRBY', k .. ':w', slot .. ':ok', d.ok)
    redis.call('HINCRBY', k .. ':w', slot .. ':err', d.err)
    redis.call('PEXPIRE', k .. ':w', math.ceil(cfg.window * 2000))
  end
  if d.trail >= 0 then consec = d.trail else consec = consec + d.err end
  if d.req > 0 or d.tok > 0 then
    redis.call('HINCRBY', k .. ':m', minute .. ':req', d.req)
    redis.call('HINCRBY', k .. ':m', minute .. ':tok', d.tok)
    redis.call('EXPIRE', k .. ':m', 120)
  end
  redis.call('HSET', k .. ':in', a.replica, d.inflight .. '|' .. now)
  redis.call('EXPIRE', k .. ':in', 60)
  if d.closed == 1 and open_until > 0 and now >= open_until then
    open_until = 0
    consec = 0
    redis.call('DEL', k .. ':w')
  end
  if d.opened > open_until then open_until = d.opened end
  if cfg.enabled == 1 and open_until == 0 then
    if consec >= cfg.threshold then
      open_until = now + cfg.open
    else
      local w = window(k)
      local calls, bad = 0, 0
      for i = 1, #w, 2 do
        calls = calls + (tonumber(w[i]) or 0) + (tonumber(w[i + 1]) or 0)
        bad = bad + (tonumber(w[i + 1]) or 0)
      end
      if calls >= cfg.min and bad / calls >= cfg.rate then open_until = now + cfg.open end
    end
  end
  local fields = {'open_until', open_until, 'consec', consec}
  if lat then fields[#fields + 1] = 'lat'; fields[#fields + 1] = lat end
  if ttft then fields[#fields + 1] = 'ttft'; fields[#fields + 1] = ttft end
  redis.call('HSET', k, unpack(fields))
  redis.call('EXPIRE', k, 86400)
end
local out = {}
for _, dep in ipairs(a.names) do
  local k = p .. dep
  local h = redis.call('HMGET', k, 'open_until', 'consec', 'lat', 'ttft')
  local m = redis.call('HMGET', k .. ':m', minute .. ':req', minute .. ':tok')
  local others = 0
  local inflight = redis.call('HGETALL', k .. ':in')
  for i = 1, #inflight, 2 do
    if inflight[i] ~= a.replica then
      local count, ts = string.match(inflight[i + 1], '([^|]+)|(.+)')
      if tonumber(ts) and tonumber(ts) > now - 5 then others = others + (tonumber(count) or 0) end
    end
  end
  local w = window(k)
  local slots = {}
  for i = 1, #w do slots[i] = tonumber(w[i]) or 0 end
  out[dep] = {
    open_until = tonumber(h[1]) or 0, consec = tonumber(h[2]) or 0,
    lat = tonumber(h[3]) or -1, ttft = tonumber(h[4]) or -1,
    req = tonumber(m[1]) or 0, tok = tonumber(m[2]) or 0,
    others = others, slot = slot, slots = slots
  }
end
return cjson.encode(out)
"""


@dataclass(slots=True)
class _Delta:
    ok: int = 0
    err: int = 0
    trail: int = -1  # failures after the last success in this delta; -1: no success in it
    lat_sum: float = 0.0
    lat_n: int = 0
    ttft_sum: float = 0.0
    ttft_n: int = 0
    req: int = 0
    tok: int = 0

    def wire(self, h: DeploymentHealth) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "err": self.err,
            "trail": self.trail,
            "lat": [self.lat_sum, self.lat_n],
            "ttft": [self.ttft_sum, self.ttft_n],
            "req": self.req,
            "tok": self.tok,
            "inflight": h.in_flight,
            "opened": h.opened_event,
            "closed": 1 if h.closed_event else 0,
        }


class RedisHealth(LocalHealth):
    """:class:`LocalHealth` reconciled with the other replicas through Redis in the background."""

    def __init__(
        self,
        settings: Breaker,
        *,
        url: str,
        prefix: str = "podium:",
        alpha: float = 0.2,
        interval: float = 0.1,
        fail_closed: bool = False,
    ) -> None:
        super().__init__(settings, alpha=alpha)
        import redis.asyncio as aioredis

        self.url = url
        self._redis = aioredis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script = self._redis.register_script(_SCRIPT)
        self._prefix = prefix + "rt:"
        self.interval = interval
        self.fail_closed = fail_closed
        self.replica = f"{os.uname().nodename}:{os.getpid()}:{id(self):x}"
        self._deltas: dict[str, _Delta] = {}
        self._task: asyncio.Task[None] | None = None
        self.available = True
        self.down_since: float | None = None
        self.last_error = ""
        self.round_trips = 0
        self.synced_at = 0.0

    # -------------------------------------------------------------- what the request path records

    def _delta(self, deployment: str) -> _Delta:
        d = self._deltas.get(deployment)
        if d is None:
            d = self._deltas[deployment] = _Delta()
        return d

    def _begun(self, deployment: str) -> None:
        self._delta(deployment).req += 1

    def _reported(
        self,
        deployment: str,
        h: DeploymentHealth,
        ok: bool | None,
        latency_ms: float | None,
        ttft_ms: float | None,
        tokens: int,
    ) -> None:
        d = self._delta(deployment)
        d.tok += tokens
        if latency_ms is not None:
            d.lat_sum += latency_ms
            d.lat_n += 1
        if ttft_ms is not None:
            d.ttft_sum += ttft_ms
            d.ttft_n += 1
        if ok is True:
            d.ok += 1
            d.trail = 0
        elif ok is False:
            d.err += 1
            if d.trail >= 0:
                d.trail += 1

    # -------------------------------------------------------------- the exchange

    async def sync(self) -> None:
        """One exchange with Redis: send what changed, adopt the merged state. Raises on failure."""
        deltas, self._deltas = self._deltas, {}
        names = [name for name, _ in self.items()]
        sent: dict[str, dict[str, Any]] = {}
        for name in names:
            h = self.get(name)
            d = deltas.get(name) or _Delta()
            sent[name] = d.wire(h)
            h.opened_event = 0.0
            h.closed_event = False
        s = self.settings
        payload = {
            "now": time.time(),
            "replica": self.replica,
            "cfg": {
                "window": s.window_seconds,
                "threshold": s.consecutive_failures,
                "rate": s.error_rate,
                "min": s.min_requests,
                "open": s.open_seconds,
                "alpha": self.alpha,
                "enabled": 1 if s.enabled else 0,
            },
            "deltas": sent,
            "names": names,
        }
        self.round_trips += 1
        try:
            raw = await self._script(keys=[self._prefix], args=[json.dumps(payload)])
        except BaseException:
            # Not sent: keep the events, so that an opened circuit still reaches the others later.
            for name, wire in sent.items():
                h = self.get(name)
                if wire["opened"] and not h.opened_event:
                    h.opened_event = wire["opened"]
                if wire["closed"] and not h.opened_event:
                    h.closed_event = True
            raise
        self._adopt(json.loads(raw))
        self.synced_at = time.monotonic()

    def _adopt(self, shared: dict[str, dict[str, Any]]) -> None:
        now = time.time()
        for name, s in shared.items():
            h = self.get(name)
            pending = self._deltas.get(name)  # what happened here while the script ran
            open_until = float(s["open_until"])
            if not h.opened_event and not h.closed_event and open_until != h.open_until:
                if open_until == 0.0 or h.open_until == 0.0 or open_until > h.open_until:
                    h.probes = 0
                    h.probe_successes = 0
                h.open_until = open_until
            consec = int(s["consec"])
            if pending is not None:
                consec = pending.trail if pending.trail >= 0 else consec + pending.err
            h.consecutive = consec
            first = int(s["slot"]) - 9
            values = s["slots"]
            slots = {first + i // 2: [int(values[i]), int(values[i + 1])] for i in range(0, len(values), 2)}
            if pending is not None and (pending.ok or pending.err):
                current = slots.setdefault(int(now / h.slot_width), [0, 0])
                current[0] += pending.ok
                current[1] += pending.err
            h.slots = {k: v for k, v in slots.items() if v[0] or v[1]}
            if s["lat"] >= 0:
                h.latency = float(s["lat"])
            if s["ttft"] >= 0:
                h.ttft = float(s["ttft"])
            h.minute = int(now // 60)
            h.minute_requests = int(s["req"]) + (pending.req if pending else 0)
            h.minute_tokens = int(s["tok"]) + (pending.tok if pending else 0)
            h.remote_in_flight = int(s["others"])
            h.check(now)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any Redis failure: go on with the local view
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                if self.available:
                    self.available = False
                    self.down_since = time.monotonic()
                    policy = "refusing routed requests" if self.fail_closed else "routing on local state"
                    log.warning("shared routing state unavailable (%s): %s", self.last_error, policy)
            else:
                if not self.available:
                    log.info("shared routing state reachable again")
                self.available = True
                self.down_since = None

    # -------------------------------------------------------------- lifecycle and status

    def status(self) -> dict[str, object]:
        out: dict[str, object] = {"backend": "redis", "ok": self.available}
        if not self.available:
            out["error"] = self.last_error
            out["policy"] = "closed" if self.fail_closed else "open"
        return out

    def usable(self) -> bool:
        return self.available or not self.fail_closed

    async def start(self) -> None:
        try:
            await self.sync()
        except Exception as exc:  # noqa: BLE001 - start anyway; the loop retries and /readyz shows it
            self.available = False
            self.down_since = time.monotonic()
            self.last_error = f"{exc.__class__.__name__}: {exc}"
            log.warning("shared routing state unavailable at start (%s)", self.last_error)
        self._task = asyncio.create_task(self._run(), name="podium-routing-sync")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            with contextlib.suppress(Exception):
                await self.sync()  # the last word: what this replica saw reaches the others
        await self._redis.aclose()
