"""This process's own counters for /metrics (cloud_stub/metrics.py), kept apart so the ingest hot path
imports only prometheus_client, not the HTTP layer. Not registered anywhere global: each app's
/metrics registry registers them, so several apps in one process (tests) do not collide."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

BATCHES = Counter("edgeproof_ingest_batches", "Batches handled by this receiver process, by transport, outcome "
                  "(accepted, duplicate, rejected) and rejection code", ["transport", "status", "code"], registry=None)
VERIFY_SECONDS = Histogram("edgeproof_ingest_verify_seconds", "Seconds to verify and store one batch envelope",
                           ["transport"], registry=None,
                           buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
RATE_LIMITED = Counter("edgeproof_http_rate_limited", "Requests answered 429 by the rate limiter, by client kind "
                       "(token, address)", ["kind"], registry=None)


def observe_batch(transport: str, status: str, code: str | None, seconds: float) -> None:
    BATCHES.labels(transport, status, code or "").inc()
    VERIFY_SECONDS.labels(transport).observe(seconds)


def observe_rate_limited(kind: str) -> None:
    RATE_LIMITED.labels(kind).inc()
