"""HTTP transport: POST the envelope to the receiver; the response is the receiver's ack.

urllib from the standard library keeps the Pi footprint small; it runs in a worker
thread so a slow receiver never blocks polling.

With ``compression="auto"`` (profile ``[uplink] compression``) the transport asks the receiver once
(``GET /v1/capabilities``) and, if it accepts them, sends batches as zstd-compressed compact envelopes
(gateway/wire/compress.py): the same signed bytes in a fraction of the traffic on a cellular link. A
receiver without the route (404) or that refuses one (400 ``bad_encoding``) gets JSON from then on.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

from gateway.i18n import N_
from gateway.uplink import capabilities
from gateway.uplink.transport import Ack, TransportError
from gateway.wire import compress as wire_compress


class HttpTransport:
    def __init__(self, url: str, timeout_s: float = 10.0, compression: str = "off") -> None:
        self.url = url.rstrip("/") + "/v1/batches"
        self.heads_url = url.rstrip("/") + "/v1/heads"
        self.caps_url = url.rstrip("/") + "/v1/capabilities"
        self.timeout_s = timeout_s
        self.name = f"http:{url.rstrip('/')}"
        self.compression = compression
        # None: not asked yet; True/False: the receiver takes zstd compact envelopes or not.
        self.compact: bool | None = None if compression == "auto" else False
        self._ask_after = 0.0  # monotonic time before which a failed capabilities ask is not repeated

    def _negotiate(self) -> bool:
        """Whether to send compact zstd envelopes; asks the receiver the first time (a failed ask: JSON now,
        ask again next time)."""
        if self.compact is None:
            if time.monotonic() < self._ask_after:
                return False
            caps = capabilities.fetch(self.url[: -len("/v1/batches")], self.timeout_s)
            if caps is None:
                self._ask_after = time.monotonic() + capabilities.RETRY_S
                return False
            self.compact = capabilities.takes_compact_zstd(caps)
        return self.compact

    def _post_batch(self, envelope: bytes) -> Ack:
        if not self._negotiate():
            return self._post(envelope)
        try:
            return self._post(wire_compress.encode(envelope), headers={
                "Content-Type": wire_compress.COMPACT_TYPE, "Content-Encoding": wire_compress.ZSTD})
        except _Refused:
            self.compact = False  # the receiver no longer takes it: JSON from now on
            return self._post(envelope)

    def _post(self, envelope: bytes, url: str | None = None, headers: dict[str, str] | None = None) -> Ack:
        req = urllib.request.Request(url or self.url, data=envelope, method="POST",
                                     headers=headers or {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return Ack.from_json(json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise TransportError(N_("receiver answered HTTP {code}"), code=exc.code) from exc
            try:
                answer = json.loads(exc.read())
                if headers is not None and isinstance(answer, dict) and answer.get("code") == "bad_encoding":
                    raise _Refused(str(answer.get("reason") or answer))
                return Ack.from_json(answer)
            except ValueError as err:
                raise TransportError(N_("receiver answered HTTP {code} without a verdict"), code=exc.code) from err
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TransportError(N_("cannot deliver to {url}: {error}"), url=self.url, error=exc) from exc

    async def send(self, seq: int, batch_hash: str, envelope: bytes) -> Ack:
        return await asyncio.to_thread(self._post_batch, envelope)

    async def send_head(self, statement_hash: str, envelope: bytes) -> Ack:
        """A head statement (gateway/uplink/heads.py) to ``/v1/heads``; the answer is its ack."""
        return await asyncio.to_thread(self._post, envelope, self.heads_url)

    async def close(self) -> None:
        return None


class _Refused(Exception):
    """The receiver refused the compact/zstd encoding (400 bad_encoding)."""
