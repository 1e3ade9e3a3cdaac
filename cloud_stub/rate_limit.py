"""Per-client rate limits for the HTTP API: token buckets in memory, clear JSON 429s with Retry-After.

Who a request counts against:

* a bank bearer token this receiver knows (checked against the stored hash, cached for a short
  while) has a bucket of its own, so one busy bank does not throttle another behind the same NAT;
* everything else -- no token, an unknown token (an attacker inventing tokens must not get a
  fresh bucket each time), gateways posting signed batches -- counts against its client address.
  Behind a reverse proxy that address is the one the proxy put in X-Forwarded-For (uvicorn trusts
  that header from the addresses in FORWARDED_ALLOW_IPS, 127.0.0.1 by default).

Buckets live in this process only (several receivers each enforce their own limit) and the
least recently used ones are dropped beyond ``max_clients``, so memory stays bounded whatever
the number of addresses. Gateways treat 429 as "later" and resend from their outbox.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from cloud_stub.counters import observe_rate_limited
from cloud_stub.enrollment import token_hash

_SPEC_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*(?:,\s*burst\s*=?\s*(\d+))?\s*$")
_PER = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


@dataclass(frozen=True)
class Limit:
    """``rate`` requests per second on average, up to ``burst`` at once."""

    rate: float
    burst: int

    @classmethod
    def parse(cls, text: str) -> Limit:
        """``20/s``, ``600/min``, ``20/s,burst=60`` (default burst: one second's worth, at least 1)."""
        m = _SPEC_RE.match(text or "")
        if not m:
            raise ValueError(f"{text!r}: expected RATE/UNIT[,burst=N], e.g. 20/s, 600/min or 20/s,burst=60")
        rate = float(m.group(1)) / _PER[m.group(2)]
        burst = int(m.group(3)) if m.group(3) else max(1, math.ceil(rate))
        if rate <= 0 or burst < 1:
            raise ValueError(f"{text!r}: the rate and the burst must be above zero")
        return cls(rate, burst)


@dataclass(frozen=True)
class RateLimits:
    token: Limit = Limit(20.0, 100)
    address: Limit = Limit(100.0, 500)
    max_clients: int = 100_000
    # Direct clients on this host (a loopback peer with no X-Forwarded-For) are not limited: local tools
    # (replay, benches, the demo, a bank verifier run on the host). A same-host proxy forwards the real address.
    exempt_loopback: bool = True


class Buckets:
    """Token buckets by key, least recently used dropped beyond ``max_clients``."""

    def __init__(self, max_clients: int) -> None:
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_clients = max_clients

    def take(self, key: str, limit: Limit, now: float | None = None) -> float:
        """0 when a request may go ahead (one token spent); otherwise seconds until one is available."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._state.pop(key, (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - at) * limit.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / limit.rate
            self._state[key] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self._state) > self.max_clients:
                self._state.popitem(last=False)
        return wait


class KnownTokens:
    """Whether a bearer token is a bank's, from the stored hashes, remembered for ``ttl`` seconds."""

    def __init__(self, rdb: Any, ttl: float = 30.0, size: int = 10_000) -> None:
        self.rdb, self.ttl, self.size = rdb, ttl, size
        self._cache: OrderedDict[str, tuple[bool, float]] = OrderedDict()
        self._lock = threading.Lock()

    def known(self, digest: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None and hit[1] > now:
                return hit[0]
        with self.rdb.read() as conn:
            ok = conn.execute("SELECT 1 FROM banks WHERE token_hash = ?", (digest,)).fetchone() is not None
        with self._lock:
            self._cache[digest] = (ok, now + self.ttl)
            self._cache.move_to_end(digest)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return ok


def _bearer(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            return token.strip() or None if scheme.lower() == "bearer" else None
    return None


def _direct_loopback(scope: dict[str, Any], host: str) -> bool:
    if any(k in (b"x-forwarded-for", b"forwarded") for k, _ in scope.get("headers", [])):
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RateLimitMiddleware:
    """ASGI middleware: a 429 ``{"status": "error", "code": "rate_limited", ...}`` with Retry-After."""

    def __init__(self, app: Callable[..., Awaitable[None]], rdb: Any, limits: RateLimits,
                 exempt: frozenset[str] = frozenset({"/metrics"})) -> None:
        self.app, self.limits, self.exempt = app, limits, exempt
        self.buckets = Buckets(limits.max_clients)
        self.tokens = KnownTokens(rdb)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("?", 0)
        if self.limits.exempt_loopback and _direct_loopback(scope, str(client[0])):
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        digest = token_hash(token) if token else None
        if digest is not None and await run_in_threadpool(self.tokens.known, digest):
            kind, key, limit = "token", "t:" + digest, self.limits.token
        else:
            kind, key, limit = "address", "a:" + str(client[0]), self.limits.address
        wait = self.buckets.take(key, limit)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        observe_rate_limited(kind)
        retry = max(1, math.ceil(wait))
        body = json.dumps({"status": "error", "code": "rate_limited", "retry_after": retry,
                           "message": f"too many requests from this {'token' if kind == 'token' else 'address'}: "
                                      f"at most {limit.rate:g}/s (burst {limit.burst}); retry in {retry} s"}).encode()
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", b"application/json"), (b"retry-after", str(retry).encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
