"""RFC 3161 trusted timestamps from a Time-Stamping Authority over what the receiver holds.

Chains and signatures prove integrity, not *when*: without an outside anchor a receiver could rebuild a
history later. So, daily (``edgeproof cloud timestamp``, run by a timer; or ``cloud serve --tsa-url``)
and at every evidence export, the receiver asks a TSA to timestamp:

* each gateway's chain tip: ``{"kind": "chain_tip", "enterprise", "gateway", "seq", "hash"}``;
* each enterprise's access-log head: ``{"kind": "access_log_head", "enterprise", "id", "hash"}``;
* the whole access log's head (``access_log.head``): ``{"kind": "access_log", "digest", "entries"}``.

The subject is stored as its canonical JSON (``gateway.wire.canonical_json``); the imprint sent to the
TSA is its SHA-256, so anyone holding the subject and the token can check that the TSA saw exactly it
at ``genTime``. A subject already timestamped is not sent again. Requests and replies are built and
parsed with asn1crypto (``tsp``/``cms``); the reply's status, imprint and nonce are checked here, the
signature and certificate chain by the offline verifier (``gateway/evidence_verify.py``).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import urllib.error
import urllib.request
from typing import Any

from asn1crypto import algos, cms, tsp

from cloud_stub import access_log
from cloud_stub.db import Store, iso, utc_now
from cloud_stub.texts import msg
from gateway import wire

log = logging.getLogger("cloud_stub.timestamps")

TIMEOUT = 30.0
MAX_REPLY = 1024 * 1024


class TimestampError(Exception):
    """The TSA could not be reached, refused, or answered something that is not a token for our query."""


def subjects(rdb: Store, enterprise_id: str | None = None) -> list[tuple[str, str | None, str | None, dict[str, Any]]]:
    """``(kind, enterprise, gateway, subject)`` of everything to timestamp now (one enterprise, or all)."""
    with rdb.read() as conn:
        sql = "SELECT id, enterprise_id, last_seq, last_hash FROM gateways"
        rows = conn.execute(sql + (" WHERE enterprise_id = ?" if enterprise_id else "") + " ORDER BY id",
                            (enterprise_id,) if enterprise_id else ()).fetchall()
        ents = [enterprise_id] if enterprise_id else [r[0] for r in conn.execute(
            "SELECT DISTINCT enterprise_id FROM access_log WHERE enterprise_id IS NOT NULL ORDER BY enterprise_id")]
    out: list[tuple[str, str | None, str | None, dict[str, Any]]] = []
    for gw, ent, seq, h in rows:
        if int(seq) > 0:
            out.append(("chain_tip", ent, gw, {"kind": "chain_tip", "enterprise": ent, "gateway": gw,
                                               "seq": int(seq), "hash": h}))
    for ent in ents:
        eh = access_log.enterprise_head(rdb, ent)
        if eh is not None:
            out.append(("access_log_head", ent, None, {"kind": "access_log_head", "enterprise": ent, **eh}))
    if enterprise_id is None:
        whole = access_log.head(rdb)
        if whole["entries"]:
            out.append(("access_log", None, None, {"kind": "access_log", "digest": whole["digest"],
                                                   "entries": whole["entries"]}))
    return out


def build_request(digest: bytes, nonce: int) -> bytes:
    """A DER TimeStampReq for a SHA-256 ``digest``, asking for the TSA certificate in the token."""
    return tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": tsp.MessageImprint({
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}), "hashed_message": digest}),
        "nonce": nonce,
        "cert_req": True,
    }).dump()


def request_token(tsa_url: str, digest: bytes, timeout: float = TIMEOUT) -> tuple[bytes, str]:
    """Ask the TSA to timestamp ``digest``; the DER TimeStampToken (a CMS ContentInfo) and its genTime."""
    nonce = secrets.randbits(63)
    req = urllib.request.Request(tsa_url, data=build_request(digest, nonce), method="POST",
                                 headers={"Content-Type": "application/timestamp-query"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the operator's TSA URL
            data = resp.read(MAX_REPLY + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise TimestampError(msg("TSA {tsa_url} unreachable: {exc}", tsa_url=tsa_url, exc=exc)) from None
    if len(data) > MAX_REPLY:
        raise TimestampError(msg("TSA {tsa_url} reply over {max_reply} bytes", tsa_url=tsa_url, max_reply=MAX_REPLY))
    return check_reply(data, digest, nonce, tsa_url)


def check_reply(data: bytes, digest: bytes, nonce: int | None, tsa_url: str = "TSA") -> tuple[bytes, str]:
    """The token of a TimeStampResp, if it was granted for this imprint (and nonce)."""
    try:
        resp = tsp.TimeStampResp.load(data)
        status = resp["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            text = resp["status"]["status_string"].native
            raise TimestampError(f"{tsa_url} refused the request: {status} {text or ''}".strip())
        token = resp["time_stamp_token"]
        tst = token["content"]["encap_content_info"]["content"].parsed
        imprint = tst["message_imprint"]
        if imprint["hash_algorithm"]["algorithm"].native != "sha256" or imprint["hashed_message"].native != digest:
            raise TimestampError(msg("{tsa_url} answered with a token for another imprint", tsa_url=tsa_url))
        if nonce is not None and tst["nonce"].native != nonce:
            raise TimestampError(msg("{tsa_url} answered with another nonce (a replayed reply?)", tsa_url=tsa_url))
        gen_time = tst["gen_time"].native
        return token.dump(), iso(gen_time)
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TimestampError(msg("{tsa_url} answered something that is not a timestamp reply: {exc}", tsa_url=tsa_url,
                                 exc=exc)) from None


def stamp(rdb: Store, tsa_url: str, enterprise_id: str | None = None) -> list[dict[str, Any]]:
    """Timestamp every current subject (of one enterprise, or all) not timestamped yet; what was stored."""
    done: list[dict[str, Any]] = []
    for kind, ent, gw, subject in subjects(rdb, enterprise_id):
        text = wire.canonical_json(subject).decode()
        imprint = hashlib.sha256(text.encode()).hexdigest()
        with rdb.read() as conn:
            if conn.execute("SELECT 1 FROM timestamps WHERE imprint = ?", (imprint,)).fetchone():
                continue
        token, gen_time = request_token(tsa_url, bytes.fromhex(imprint))
        with rdb.write() as conn:
            conn.execute("INSERT INTO timestamps (kind, enterprise_id, gateway_id, subject, imprint, token, gen_time,"
                         " tsa_url, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (kind, ent, gw, text, imprint, token, gen_time, tsa_url, iso(utc_now())))
        done.append({"kind": kind, "enterprise_id": ent, "gateway_id": gw, "imprint": imprint, "gen_time": gen_time})
        log.info("timestamped", extra={"event": "timestamp", "kind": kind, "enterprise": ent, "gateway": gw})
    return done


def tokens(rdb: Store, enterprise_id: str) -> list[dict[str, Any]]:
    """Every stored token about ``enterprise_id``, oldest first."""
    with rdb.read() as conn:
        rows = conn.execute("SELECT id, kind, gateway_id, subject, imprint, token, gen_time, tsa_url FROM timestamps"
                            " WHERE enterprise_id = ? ORDER BY id", (enterprise_id,)).fetchall()
    return [{"id": int(r[0]), "kind": r[1], "gateway_id": r[2], "subject": r[3], "imprint": r[4],
             "token": bytes(r[5]), "gen_time": r[6], "tsa_url": r[7]} for r in rows]


def tsa_certificates(token_der: bytes) -> list[bytes]:
    """The DER certificates a token carries (the TSA's, when it was asked for with certReq)."""
    ci = cms.ContentInfo.load(token_der)
    certs = ci["content"]["certificates"]
    return [c.chosen.dump() for c in certs] if certs.native is not None else []


class DailyStamper:
    """``cloud serve --tsa-url``: timestamps every ``interval`` seconds (a day by default) on its own thread.
    A TSA that is down is logged and tried again next time; it never stops the receiver."""

    def __init__(self, rdb: Store, tsa_url: str, interval: float = 86400.0) -> None:
        self.rdb, self.tsa_url, self.interval = rdb, tsa_url, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="timestamps", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                stamp(self.rdb, self.tsa_url)
            except TimestampError as exc:
                log.warning("timestamping failed", extra={"event": "timestamp_failed", "error": str(exc)})
            except Exception:  # noqa: BLE001 - logged; the next round tries again
                log.exception("timestamping failed", extra={"event": "timestamp_failed"})
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
