"""Operational options of the HTTP app (``cloud serve``): metrics access, rate limits, access log.

Kept out of http_api.py so the API's routes and these cross-cutting layers change apart. The
order of layers, outermost first: access log (so it records 429s too), rate limiter, the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from fastapi import FastAPI

from cloud_stub import metrics
from cloud_stub.http_access_log import AccessLogMiddleware
from cloud_stub.rate_limit import RateLimitMiddleware, RateLimits


@dataclass(frozen=True)
class OpsOptions:
    metrics_token: str | None = None  # None: /metrics for direct clients on this host only
    rate_limits: RateLimits | None = None  # None: no limits (tests, embedding)
    access_log: IO[str] | None = None  # a text stream for JSON lines, or None


_RATE_LIMITED = {"description": "rate_limited: too many requests from this token or address (only when `cloud "
                 "serve` runs with rate limits); Retry-After says when to try again",
                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}


def install(app: FastAPI, rdb: Any, ops: OpsOptions | None) -> None:
    """Add /metrics, the optional middlewares, and a documented 429 on every route."""
    ops = ops or OpsOptions()
    app.include_router(metrics.router(rdb, ops.metrics_token))
    if ops.rate_limits is not None:
        app.add_middleware(RateLimitMiddleware, rdb=rdb, limits=ops.rate_limits)
    if ops.access_log is not None:
        app.add_middleware(AccessLogMiddleware, out=ops.access_log, metrics_token=ops.metrics_token)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for ops_ in schema.get("paths", {}).values():
                for op in ops_.values():
                    op.setdefault("responses", {}).setdefault("429", _RATE_LIMITED)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
