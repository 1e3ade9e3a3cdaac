"""Counts of rejected requests that no enrolled key vouches for, kept in memory only.

Anyone can send junk envelopes (an unknown key id, a forged signature under a real gateway's
key id): storing a finding for each would let them fill the receiver's disk. They are
counted here instead (per code, and per gateway where the key id named one), logged, and
served by ``GET /healthz`` so an operator sees an attack; a restart resets them.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

log = logging.getLogger("cloud_stub.rejections")

_lock = threading.Lock()
_by_code: Counter[str] = Counter()
_by_gateway: Counter[str] = Counter()


def count(code: str, gateway_id: str | None = None) -> None:
    """One more unauthenticated rejection with ``code`` (for ``gateway_id`` when its key id named one)."""
    with _lock:
        _by_code[code] += 1
        if gateway_id is not None:
            _by_gateway[gateway_id] += 1
    log.warning("unauthenticated batch rejected", extra={"event": "unauthenticated_rejection", "code": code,
                                                         "gateway": gateway_id})


def snapshot() -> dict[str, Any]:
    """``{"total", "by_code", "by_gateway"}`` since this process started."""
    with _lock:
        return {"total": sum(_by_code.values()), "by_code": dict(sorted(_by_code.items())),
                "by_gateway": dict(sorted(_by_gateway.items()))}
