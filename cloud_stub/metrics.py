"""Prometheus metrics for the receiver: ``GET /metrics`` in the text exposition format.

Two sources, both cheap enough to read on every scrape:

* this process's counters (batches handled by transport and outcome, with the rejection code;
  verify-and-store latency; requests refused by the rate limiter), updated on the hot path by
  :func:`observe_batch` / :func:`observe_rate_limited`;
* the store, read at scrape time by :class:`StoreCollector`, so receivers sharing one PostgreSQL
  report the same fleet-wide figures: batches, records and alerts stored (highest ids, which only
  grow), seconds since each gateway's last batch or head statement, alert outbox depth by state,
  alert delivery attempts by status, the database size; and the unauthenticated rejections this
  process counted in memory (cloud_stub/rejections.py).

Who may read it (docs/receiver.md, 'Metrics'): a client on the receiver's own host, talking to it
directly (loopback peer, no X-Forwarded-For / Forwarded header, so a reverse proxy on the same
host does not make the internet 'local'), or anyone presenting the operator's metrics token as
a bearer token. The figures name gateways and enterprises and show when each was last heard
from, which a competitor or an attacker planning an outage should not see.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from cloud_stub import feed_models, outbox, rejections
from cloud_stub.counters import BATCHES, RATE_LIMITED, VERIFY_SECONDS

log = logging.getLogger("cloud_stub.metrics")

def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class StoreCollector(Collector):
    """Figures read from the receiver's store at scrape time (see the module docstring)."""

    def __init__(self, rdb: Any) -> None:
        self.rdb = rdb

    def collect(self) -> Iterator[Any]:
        snap = rejections.snapshot()
        unauth = CounterMetricFamily("edgeproof_unauthenticated_rejections", "Batches rejected since this process "
                                     "started that no enrolled key vouched for (never stored), by code",
                                     labels=["code"])
        for code, n in snap["by_code"].items():
            unauth.add_metric([code], n)
        yield unauth
        now = time.time()
        with self.rdb.read() as conn:
            tops = {t: conn.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0]  # noqa: S608 - fixed names
                    for t in ("batches", "records", "alerts", "findings")}
            gws = conn.execute(
                "SELECT g.id, g.enterprise_id,"
                " (SELECT b.received FROM batches b WHERE b.gateway_id = g.id ORDER BY b.seq DESC LIMIT 1),"
                " (SELECT h.received FROM head_statements h WHERE h.gateway_id = g.id ORDER BY h.id DESC LIMIT 1)"
                " FROM gateways g ORDER BY g.id").fetchall()
            depth = outbox.depths(conn)
            sent = conn.execute("SELECT status, count(*) FROM alert_deliveries GROUP BY status").fetchall()
            size = self._db_size(conn)
        for table, top in tops.items():
            c = CounterMetricFamily(f"edgeproof_stored_{table}", f"{table.capitalize()} stored (highest id; shared "
                                    "by every receiver on this store, so rate() is the fleet's ingest rate)")
            c.add_metric([], top)
            yield c
        silence = GaugeMetricFamily("edgeproof_gateway_seconds_since_contact", "Seconds since the gateway's last "
                                    "accepted batch or head statement", labels=["gateway", "enterprise"])
        never = GaugeMetricFamily("edgeproof_gateways_never_heard", "Enrolled gateways with no batch or head "
                                  "statement yet")
        n_never = 0
        for gw, ent, b_at, h_at in gws:
            seen = [t for t in (_epoch(b_at), _epoch(h_at)) if t is not None]
            if seen:
                silence.add_metric([gw, ent], round(max(0.0, now - max(seen)), 3))
            else:
                n_never += 1
        never.add_metric([], n_never)
        yield silence
        yield never
        q = GaugeMetricFamily("edgeproof_alert_outbox", "Alert deliveries queued, by state", labels=["state"])
        for state in ("pending", "delivered", "failed", "cancelled"):
            q.add_metric([state], depth.get(state, 0))
        yield q
        d = CounterMetricFamily("edgeproof_alert_delivery_attempts", "Alert delivery attempts, by status "
                                "(delivered, retry, failed, cancelled, test, test_failed)", labels=["status"])
        for status, n in sorted(sent):
            d.add_metric([status], n)
        yield d
        if size is not None:
            g = GaugeMetricFamily("edgeproof_db_size_bytes", "Size of the receiver database (SQLite: file + WAL)")
            g.add_metric([], size)
            yield g

    def _db_size(self, conn: Any) -> int | None:
        if self.rdb.dialect == "postgresql":
            return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.path.getsize(self.rdb.path + suffix)
            except OSError:
                pass
        return total


def is_local(request: Request) -> bool:
    """A direct client on this host: a loopback peer, and no proxy header saying it speaks for someone else."""
    client = request.client.host if request.client else ""
    if request.headers.get("x-forwarded-for") or request.headers.get("forwarded"):
        return False
    try:
        return ipaddress.ip_address(client).is_loopback
    except ValueError:
        return False


def router(rdb: Any, token: str | None = None) -> APIRouter:
    """``GET /metrics`` over ``rdb``; ``token``: the operator's metrics token (None: loopback only)."""
    registry = CollectorRegistry(auto_describe=False)
    for c in (BATCHES, VERIFY_SECONDS, RATE_LIMITED, StoreCollector(rdb)):
        registry.register(c)
    api = APIRouter()
    responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "Prometheus text exposition format", "content": {"text/plain": {}}},
        401: {"model": feed_models.ErrorResponse, "description": "unauthenticated: a bearer token that is not the "
              "metrics token"},
        403: {"model": feed_models.ErrorResponse, "description": "forbidden: not a direct client on this host and "
              "no metrics token"},
    }

    @api.get("/metrics", tags=["operations"], responses=responses, response_class=Response)
    def metrics(request: Request, authorization: str | None = Header(None)) -> Response:
        """Receiver metrics for Prometheus: a direct client on this host, or the operator's metrics token."""
        scheme, _, given = (authorization or "").strip().partition(" ")
        if authorization:
            if not (token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                                                   token.encode())):
                return JSONResponse({"status": "error", "code": "unauthenticated",
                                     "message": "not the metrics token"}, status_code=401)
        elif not is_local(request):
            return JSONResponse({"status": "error", "code": "forbidden", "message": "metrics are served to a "
                                 "direct client on the receiver's host, or with the metrics token"}, status_code=403)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return api
