"""HTTP transport: POST the envelope to the receiver; the response is the receiver's ack.

urllib from the standard library keeps the Pi footprint small; it runs in a worker
thread so a slow receiver never blocks polling.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from gateway.uplink.transport import Ack, TransportError


class HttpTransport:
    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/") + "/v1/batches"
        self.heads_url = url.rstrip("/") + "/v1/heads"
        self.timeout_s = timeout_s
        self.name = f"http:{url.rstrip('/')}"

    def _post(self, envelope: bytes, url: str | None = None) -> Ack:
        req = urllib.request.Request(url or self.url, data=envelope, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return Ack.from_json(json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise TransportError(f"receiver answered HTTP {exc.code}") from exc
            try:
                return Ack.from_json(json.loads(exc.read()))
            except ValueError as err:
                raise TransportError(f"receiver answered HTTP {exc.code} without a verdict") from err
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TransportError(f"cannot deliver to {self.url}: {exc}") from exc

    async def send(self, seq: int, batch_hash: str, envelope: bytes) -> Ack:
        return await asyncio.to_thread(self._post, envelope)

    async def send_head(self, statement_hash: str, envelope: bytes) -> Ack:
        """A head statement (gateway/uplink/heads.py) to ``/v1/heads``; the answer is its ack."""
        return await asyncio.to_thread(self._post, envelope, self.heads_url)

    async def close(self) -> None:
        return None
