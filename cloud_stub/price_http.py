"""A price adapter for a bank's HTTP JSON price service (``cloud price pull --adapter http-json``).

``GET <url>?day=YYYY-MM-DD&product_class=A&product_class=B`` (``Authorization: Bearer <token>`` when one
is given) answers ``{"prices": [{"day", "product_class", "price", "currency", "unit"}, ...]}``. Every point
is checked like a CSV row (cloud_stub/prices.parse_row) before anything is stored; a failing source is an
error naming the URL and what was wrong, and stores nothing.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from typing import Any

from cloud_stub.errors import ReceiverError
from cloud_stub.prices import PriceAdapter, PricePoint, parse_row, register_adapter
from cloud_stub.texts import msg

MAX_BYTES = 4 * 1024 * 1024


@register_adapter
class HttpJsonPrices(PriceAdapter):
    name = "http-json"

    def __init__(self, url: str, token: str | None = None, timeout: float = 15.0) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ReceiverError("bad_request", msg("--url: expected an http(s) URL, got {url}",
                                                   url=repr(url)), 400, status="error")
        self.url, self.token, self.timeout = url, token, timeout

    def _get(self, query: list[tuple[str, str]]) -> Any:
        sep = "&" if urllib.parse.urlsplit(self.url).query else "?"
        req = urllib.request.Request(self.url + sep + urllib.parse.urlencode(query),
                                     headers={"Accept": "application/json"})
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        where = urllib.parse.urlsplit(self.url)._replace(query="").geturl()
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - http(s) checked above
                raw = resp.read(MAX_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise ReceiverError("price_source", msg("{where}: HTTP {code}", where=where,
                                                    code=exc.code), 502, status="error") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ReceiverError("price_source", msg("{where}: unreachable ({exc})", where=where,
                                                    exc=exc), 502, status="error") from None
        if len(raw) > MAX_BYTES:
            raise ReceiverError("price_source", msg("{where}: answer larger than {max_bytes} bytes", where=where,
                                                    max_bytes=MAX_BYTES), 502, status="error")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ReceiverError("price_source", msg("{where}: not JSON ({exc})", where=where,
                                                    exc=exc), 502, status="error") from None

    def fetch(self, product_classes: list[str], day: date) -> list[PricePoint]:
        doc = self._get([("day", day.isoformat()), *(("product_class", c) for c in product_classes)])
        where = urllib.parse.urlsplit(self.url)._replace(query="").geturl()
        if not isinstance(doc, dict) or not isinstance(doc.get("prices"), list):
            raise ReceiverError("price_source", msg('{where}: expected {{"prices": [...]}}',
                                                    where=where), 502, status="error")
        out = []
        for i, p in enumerate(doc["prices"]):
            if not isinstance(p, dict):
                raise ReceiverError("price_source", msg("{where}: $.prices[{i}]: expected an object", where=where,
                                                        i=i), 502,
                                    status="error")
            out.append(parse_row({k: None if p.get(k) is None else str(p.get(k))
                                  for k in ("day", "product_class", "price", "currency", "unit")},
                                 f"{where} $.prices[{i}]"))
        return out
