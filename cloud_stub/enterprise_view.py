"""The enterprise sees what its banks see: a view fetched by its gateway with a request signed by
the gateway's own key (gateway/wire/request.py; docs/wire-format.md, section 12).

:func:`authenticate` checks the signed request statement against the enrolled, unrevoked key
of that gateway of that enterprise, its method and path, its freshness (``FRESH_S``) and its
nonce (never seen within the window: :class:`NonceCache`, in memory, bounded). Nothing an
unauthenticated client sends is stored: the nonce is remembered only after the signature holds.

:func:`build_view` answers with one page signed by the receiver key (as every bank feed page):
the latest score report exactly as banks are served it (with its stored receiver signature),
its warning level and reason codes, the newest findings with their numbers (``detail``) and
chain hashes, every dispute and confirmation with each bank's signed decision, and the request's
nonce (so a recorded answer cannot be passed off as the answer to a later request).
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from datetime import timedelta
from typing import Any

from nacl.signing import SigningKey

from cloud_stub import disputes, feed, feed_chain
from cloud_stub.banks import Grant
from cloud_stub.db import ReceiverDB, iso, utc_now
from cloud_stub.errors import ReceiverError
from gateway import wire
from gateway.wire import request as wire_request

PATH = "/v1/enterprise/view"
MAX_FINDINGS = 200
MAX_NONCES = 100_000


class NonceCache:
    """Nonces of accepted requests until they could no longer be fresh; a nonce seen again is a replay.

    Bounded: past MAX_NONCES the oldest is forgotten (its statement is then refused as stale
    within ``2 * FRESH_S`` anyway unless the cache turns over faster than that: 100 000 signed
    requests in ten minutes from enrolled gateways, which the rate of gateways fetching every few
    minutes is far from). A restart forgets them all; a statement is then still refused once stale.
    """

    def __init__(self, window_s: float = 2 * wire_request.FRESH_S, limit: int = MAX_NONCES) -> None:
        self.window_s, self.limit = window_s, limit
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, nonce: str, now: float | None = None) -> bool:
        """True the first time ``nonce`` is seen within the window; False for a replay."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._seen and (next(iter(self._seen.values())) < now or len(self._seen) >= self.limit):
                self._seen.popitem(last=False)
            if nonce in self._seen:
                return False
            self._seen[nonce] = now + self.window_s
            return True


def authenticate(rdb: ReceiverDB, nonces: NonceCache, method: str, path: str, request_b64: str | None,
                 signature_b64: str | None, now: float | None = None) -> dict[str, Any]:
    """The verified request statement, or ReceiverError 401/403 with a stable code."""
    try:
        body, sig, stmt = wire_request.parse_headers(request_b64, signature_b64)
    except wire.WireError as exc:
        raise ReceiverError("unauthenticated" if exc.code == "unauthenticated" else exc.code, exc.message, 401,
                            status="error") from None
    if stmt["method"] != method or stmt["path"] != path:
        raise ReceiverError("wrong_request", "the signed statement is for another method or path", 401,
                            status="error")
    ts = wire.parse_time(stmt["time"])
    now = time.time() if now is None else now
    if ts is None or abs(now - ts) > wire_request.FRESH_S:
        raise ReceiverError("stale_request", f"the statement's time is more than {wire_request.FRESH_S:.0f} s from "
                            "the receiver's clock (check the gateway's clock)", 401, status="error")
    with rdb.read() as conn:
        row = conn.execute("SELECT gateway_id, enterprise_id, public_key, revoked_at FROM gateway_keys WHERE kid = ?",
                           (stmt["kid"],)).fetchone()
    if row is None or row[0] != stmt["gateway"] or row[1] != stmt["enterprise"]:
        raise ReceiverError("unknown_key", "no key of that id is enrolled for that gateway of that enterprise", 403,
                            status="error")
    if row[3] is not None:
        raise ReceiverError("revoked_key", "that key was revoked", 403, status="error")
    try:
        wire_request.verify_request(body, sig, wire.unb64(row[2], "public key"))
    except wire.WireError as exc:
        raise ReceiverError(exc.code, exc.message, 401, status="error") from None
    if not nonces.claim(stmt["nonce"]):
        raise ReceiverError("replayed_request", "this signed request was used already", 401, status="error")
    return stmt


def _findings(conn: Any, enterprise_id: str, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, kind, severity, gateway_id, detail, created, rule_version, subscore, window_start, window_end,"
        " prev, hash FROM findings WHERE enterprise_id = ? ORDER BY id DESC LIMIT ?", (enterprise_id, limit),
    ).fetchall()
    out = []
    for r in reversed(rows):
        detail = json.loads(r[4])
        item = {"id": r[0], "kind": r[1], "severity": r[2], "enterprise_id": enterprise_id, "gateway_id": r[3],
                "created": r[5], "rule_version": r[6], "subscore": r[7], "window_start": r[8],
                "window_end": r[9], "prev": r[10], "hash": r[11], "detail_sha256": feed_chain.detail_sha256(detail),
                "detail": detail}
        if feed.other_banks(r[1], detail, ""):  # a bank's facility (issue 15): never sent to the gateway
            del item["detail"]
            item["withheld"] = True
        out.append(item)
    return out


def build_view(rdb: ReceiverDB, signing_key: SigningKey, stmt: dict[str, Any]) -> dict[str, Any]:
    """The enterprise's view, signed by the receiver (see the module docstring)."""
    enterprise_id = stmt["enterprise"]
    own = Grant(bank_id=f"enterprise:{enterprise_id}", enterprise_id=enterprise_id, categories=None)
    try:
        latest = feed.latest_score(rdb, own, signing_key)["item"]
    except ReceiverError:
        latest = None
    with rdb.read() as conn:
        findings = _findings(conn, enterprise_id, MAX_FINDINGS)
    report = (latest or {}).get("report") or {}
    page = {
        "kind": "enterprise_view", "v": 1, "enterprise_id": enterprise_id, "gateway_id": stmt["gateway"],
        "request_nonce": stmt["nonce"], "generated": iso(utc_now()),
        "score": latest,
        "warning_level": report.get("warning_level"),
        "reasons": report.get("reasons", []),
        "findings": findings,
        "disputes": disputes.list_disputes(rdb, enterprise_id, None),
        # Who read this enterprise's data (banks, the operator) in the last 30 days, newest first: the
        # hash-chained access log (cloud_stub/access_log.py); the gateway's own uploads are left out.
        "access_log": _readers(rdb, enterprise_id),
    }
    return feed.sign_page(page, signing_key)


ACCESS_DAYS = 30
MAX_ACCESS = 100


def _readers(rdb: Any, enterprise_id: str) -> list[dict[str, Any]]:
    from cloud_stub import access_log

    since = iso(utc_now() - timedelta(days=ACCESS_DAYS))
    entries = [e for e in access_log.excerpt(rdb, enterprise_id, since) if e["actor_kind"] in ("bank", "operator")]
    return [{k: e[k] for k in ("id", "time", "actor_kind", "actor_id", "method", "path", "status", "returned")}
            for e in reversed(entries[-MAX_ACCESS:])]
