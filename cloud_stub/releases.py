"""Release bundles the receiver hands to its gateways (GET /v1/updates/latest).

The receiver stores a bundle as opaque bytes: it does not hold the release key and does not need
to -- every gateway verifies the bundle's signature against the key pinned at install, so a
receiver (or anyone between it and the gateway) cannot push an unsigned version. The receiver only
reads the manifest's version to know which bundle is the latest, and targets a bundle at every
gateway ("*") or at one enterprise's gateways (a staged roll-out).

A fetch is authenticated by the gateway's enrolled key (wire.update_fetch_bytes): only an enrolled,
unrevoked gateway gets bundles, and the receiver knows which enterprise it belongs to.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import time
from pathlib import Path
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from packaging.version import InvalidVersion, Version

from cloud_stub.db import Store, iso, utc_now
from cloud_stub.errors import ReceiverError
from cloud_stub.texts import msg
from gateway import wire

MAX_BUNDLE_BYTES = 256 * 1024 * 1024
_AUTH = re.compile(r"^gw=([^,\s]{1,128}),kid=([^,\s]{1,128}),t=(\d{1,12}),sig=([A-Za-z0-9+/=]{1,200})$")


def bundle_version(path: Path) -> str:
    """The version in a bundle's manifest.json (unverified: the gateways verify the signature)."""
    try:
        with tarfile.open(path, "r:") as tar:
            member = tar.getmember("manifest.json")
            doc = json.loads(tar.extractfile(member).read(1 << 20))  # type: ignore[union-attr]
        version = str(doc["version"])
        Version(version)
    except (OSError, KeyError, TypeError, ValueError, tarfile.TarError, InvalidVersion) as exc:
        raise ReceiverError("bad_bundle", msg("{path}: not a release bundle with a manifest.json version ({exc})",
                                              path=path, exc=exc),
                            status="error") from exc
    return version


def publish(rdb: Store, path: Path, target: str = "*") -> dict[str, Any]:
    """Store ``path`` as the bundle of its version for ``target`` ('*' or an enterprise id)."""
    size = path.stat().st_size
    if size > MAX_BUNDLE_BYTES:
        raise ReceiverError("bad_bundle", msg("{path}: {size} bytes, more than {max_bundle_bytes}", path=path,
                                              size=size, max_bundle_bytes=MAX_BUNDLE_BYTES), status="error")
    version = bundle_version(path)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    with rdb.write() as conn:
        conn.execute("DELETE FROM update_releases WHERE version = ? AND target = ?", (version, target))
        conn.execute("INSERT INTO update_releases (version, target, bundle, sha256, size, published) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (version, target, data, digest, len(data), iso(utc_now())))
    return {"version": version, "target": target, "sha256": digest, "size": len(data)}


def listing(rdb: Store) -> list[dict[str, Any]]:
    with rdb.read() as conn:
        rows = conn.execute("SELECT version, target, sha256, size, published FROM update_releases").fetchall()
    out = [{"version": r[0], "target": r[1], "sha256": r[2], "size": r[3], "published": r[4]} for r in rows]
    return sorted(out, key=lambda r: (Version(r["version"]), r["target"]))


def authenticate(rdb: Store, authorization: str | None, have: str, now: float | None = None) -> dict[str, str]:
    """The gateway behind a fetch: its signature by an enrolled, unrevoked key, within the time skew.
    Every failure is the same 401, so a prober learns nothing about which gateways exist."""
    denied = ReceiverError("unauthorized", msg("a fetch needs 'Authorization: {update_fetch_scheme} "
                                               "gw=..,kid=..,t=..,sig=..' signed by an enrolled gateway key",
                                               update_fetch_scheme=wire.UPDATE_FETCH_SCHEME), 401, status="error")
    scheme, _, rest = (authorization or "").partition(" ")
    m = _AUTH.match(rest.strip()) if scheme == wire.UPDATE_FETCH_SCHEME else None
    if m is None:
        raise denied
    gateway_id, kid, ts, sig_b64 = m.group(1), m.group(2), int(m.group(3)), m.group(4)
    if abs((time.time() if now is None else now) - ts) > wire.UPDATE_FETCH_MAX_SKEW_S:
        raise denied
    with rdb.read() as conn:
        row = conn.execute("SELECT public_key, enterprise_id, revoked_at FROM gateway_keys "
                           "WHERE kid = ? AND gateway_id = ?", (kid, gateway_id)).fetchone()
    if row is None or row[2] is not None:
        raise denied
    try:
        VerifyKey(wire.unb64(row[0], "public key")).verify(wire.update_fetch_bytes(gateway_id, kid, ts, have),
                                                           wire.unb64(sig_b64, "sig"))
    except (BadSignatureError, wire.WireError, ValueError) as exc:
        raise denied from exc
    return {"gateway_id": gateway_id, "enterprise_id": row[1]}


def latest_for(rdb: Store, enterprise_id: str, have: str) -> tuple[str, bytes, str] | None:
    """(version, bundle, sha256) of the newest release for this enterprise's gateways that is newer
    than ``have`` ('' = anything), or None."""
    with rdb.read() as conn:
        rows = conn.execute("SELECT version, sha256 FROM update_releases WHERE target IN ('*', ?)",
                            (enterprise_id,)).fetchall()
    floor = Version(have) if have else None
    newer = [(Version(v), v, d) for v, d in rows if floor is None or Version(v) > floor]
    if not newer:
        return None
    _, version, digest = max(newer)
    with rdb.read() as conn:
        row = conn.execute("SELECT bundle FROM update_releases WHERE version = ? AND sha256 = ? AND target IN ('*', ?)",
                           (version, digest, enterprise_id)).fetchone()
    return version, bytes(row[0]), digest
