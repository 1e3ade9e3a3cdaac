"""The running gateway's periodic fetch of the enterprise view (every ``[uplink] view_interval_s``),
and the on-demand fetch the status page asks for. A failure is logged and the last copy stays."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from gateway.enterprise_view.fetch import ViewError, fetch

log = logging.getLogger("edgeproof.view")
_lock = threading.Lock()  # one fetch at a time (the loop and a page button may coincide)


def fetch_now(gw: Any) -> dict[str, Any]:
    """Fetch and save the view for a running gateway; raises ViewError (blocking: call off the loop)."""
    up = gw.profile.uplink
    with _lock:
        return fetch(gw.state_dir, gw.identity, up.url if up.transport == "http" else None, up.timeout_s)


async def view_loop(gw: Any, first_after_s: float = 5.0) -> None:
    await asyncio.sleep(first_after_s)
    while True:
        try:
            doc = await asyncio.to_thread(fetch_now, gw)
            log.info("enterprise view fetched", extra={"findings": len(doc["view"].get("findings") or []),
                                                       "disputes": len(doc["view"].get("disputes") or [])})
        except ViewError as exc:
            log.warning("enterprise view not fetched; the last copy stays", extra={"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a view fetch must never stop the gateway
            log.exception("enterprise view fetch failed", extra={"error": str(exc)})
        await asyncio.sleep(gw.profile.uplink.view_interval_s)
