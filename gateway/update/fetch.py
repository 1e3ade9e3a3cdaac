"""Fetching the latest release bundle from the gateway's receiver (GET /v1/updates/latest).

The request is signed with the gateway's own key (wire.update_fetch_authorization), so the
receiver serves bundles to enrolled gateways only. What arrives is untrusted all the same: it goes
through the same verification as a bundle from a USB stick (the pinned release key decides)."""

from __future__ import annotations

import hashlib
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from gateway import wire
from gateway.i18n import N_
from gateway.identity import IdentityError, load_identity
from gateway.update.errors import UpdateError

DOWNLOADS = "downloads"
MAX_BYTES = 256 * 1024 * 1024


def fetch_latest(state: Path, root: Path, have: str | None, timeout_s: float = 120.0) -> Path | None:
    """Download the newest bundle newer than ``have`` into <root>/downloads/; None: nothing newer."""
    try:
        ident = load_identity(state)
    except IdentityError as exc:
        raise UpdateError(N_("cannot fetch updates: {error}"), error=exc) from exc
    url = (ident.enrollment or {}).get("receiver_url")
    if not url:
        raise UpdateError(N_("{state}: this gateway is not enrolled with a receiver; run `edgeproof enroll` (or "
                             "apply a bundle from a USB stick with `edgeproof update apply FILE`)"), state=state)
    have = have or ""
    auth = wire.update_fetch_authorization(ident.gateway_id, ident.kid, int(time.time()), have, ident.signing_key)
    target = f"{url.rstrip('/')}/v1/updates/latest?{urllib.parse.urlencode({'have': have})}"
    req = urllib.request.Request(target, headers={"Authorization": auth})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            if resp.status == 204:
                return None
            version = resp.headers.get("X-EdgeProof-Release-Version", "")
            digest = resp.headers.get("X-EdgeProof-Release-SHA256", "")
            data = resp.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise UpdateError(N_("receiver {url} refused the update fetch: HTTP {code} {value}"),
                          url=url, code=exc.code, value=exc.read(500).decode(errors='replace')) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise UpdateError(N_("cannot reach receiver {url}: {error}"), url=url, error=exc) from exc
    if len(data) > MAX_BYTES:
        raise UpdateError(N_("receiver {url}: bundle larger than {MAX_BYTES} bytes"), url=url, MAX_BYTES=MAX_BYTES)
    if not re.fullmatch(r"[0-9A-Za-z.+!_-]{1,64}", version):
        raise UpdateError(N_("receiver {url}: header X-EdgeProof-Release-Version {version} is not a version"),
                          url=url, version=f'{version[:64]!r}')
    if hashlib.sha256(data).hexdigest() != digest:
        raise UpdateError(N_("receiver {url}: the bundle of {version} does not match its X-EdgeProof-Release-SHA256 "
                             "(cut off in transit?)"), url=url, version=version)
    out_dir = root / DOWNLOADS
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"edgeproof-{version}.bundle"
    tmp = out.with_name(out.name + ".part")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(out)
    return out
