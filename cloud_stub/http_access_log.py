"""A structured HTTP access log for ``cloud serve --access-log``: one JSON object per request and line.

Fields: ``ts``, ``method``, ``path`` (without the query string), ``status``, ``duration_ms``,
``client`` (the address; behind a trusted proxy, the one it forwarded) and ``actor``, the kind of
caller: ``bank`` (a bearer token that was not refused), ``operator`` (the metrics token),
``gateway`` (a signed batch, head statement or enrollment that was not refused) or ``anonymous``.
Never a token, a header value, a query string or a body: cursors and tokens stay out of log files.

(Not to be confused with cloud_stub/access_log.py, the hash-chained record of who read an
enterprise's data, which enterprises and banks can read.)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import IO, Any

_GATEWAY_PATHS = frozenset({"/v1/batches", "/v1/heads", "/v1/enroll"})


def _actor(scope: dict[str, Any], status: int, metrics_token: str | None) -> str:
    auth = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"authorization"), "")
    scheme, _, token = auth.strip().partition(" ")
    if status in (401, 403, 429):
        return "anonymous"
    if scheme.lower() == "bearer" and token.strip():
        return "operator" if metrics_token and token.strip() == metrics_token else "bank"
    if scope.get("method") == "POST" and scope.get("path") in _GATEWAY_PATHS and status < 400:
        return "gateway"
    return "anonymous"


class AccessLogMiddleware:
    """ASGI middleware writing one JSON line per HTTP request to ``out`` (a text stream, flushed per line)."""

    def __init__(self, app: Callable[..., Awaitable[None]], out: IO[str], metrics_token: str | None = None) -> None:
        self.app, self.out, self.metrics_token = app, out, metrics_token
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            client = scope.get("client")
            line = json.dumps({
                "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "event": "http_access", "method": scope.get("method"), "path": scope.get("path"), "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": client[0] if client else None, "actor": _actor(scope, status, self.metrics_token),
            }, ensure_ascii=False)
            with self._lock:
                self.out.write(line + "\n")
                self.out.flush()
