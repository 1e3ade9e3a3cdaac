"""Asking the receiver what it accepts (``GET /v1/capabilities``), for the compressed uplink.

Shared by the HTTP and MQTT transports: an MQTT gateway asks the receiver's HTTP address it enrolled
with (the broker cannot answer for the receiver). ``None`` means "not known now, ask again later"; a
receiver without the route (404/405) predates compression and gets JSON.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from gateway.wire import compress as wire_compress

RETRY_S = 600.0  # after a failed ask, JSON envelopes for this long before asking again


def fetch(base_url: str, timeout_s: float) -> dict[str, Any] | None:
    """The receiver's capabilities; ``{}`` when it has none (an older receiver), None when it cannot be asked."""
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/v1/capabilities", timeout=timeout_s) as resp:
            caps = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return {} if exc.code in (404, 405) else None
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return caps if isinstance(caps, dict) else {}


def takes_compact_zstd(caps: dict[str, Any]) -> bool:
    return (wire_compress.ZSTD in (caps.get("content_encodings") or [])
            and wire_compress.COMPACT_TYPE in (caps.get("content_types") or []))


def takes_mqtt_zstd(caps: dict[str, Any]) -> bool:
    return wire_compress.MQTT_SUFFIX in (caps.get("mqtt_topic_suffixes") or {})
