"""The access log's chain rule, and a bank's check of an enterprise's access-log feed (V33-V36).

Standard library and ``gateway.wire`` only, so a bank vendors it with ``feed_verify.py``; the receiver
(``access_log.py``) hashes with the same :func:`entry_hash`. An entry's hash::

    sha256(canonical_json({"chain": "access", <FIELDS>, "prev": <hash of the enterprise's entry before>}))
"""

from __future__ import annotations

import hashlib
from typing import Any

from gateway import wire

GENESIS = "0" * 64
FIELDS = ("time", "actor_kind", "actor_id", "enterprise_id", "method", "path", "client", "status", "returned")


def entry_hash(entry: dict[str, Any], prev: str) -> str:
    """The chain hash of one entry (``entry`` holds at least :data:`FIELDS`; ``returned`` is an object)."""
    doc = {"chain": "access", **{k: entry.get(k) for k in FIELDS}, "prev": prev}
    return hashlib.sha256(wire.canonical_json(doc)).hexdigest()
