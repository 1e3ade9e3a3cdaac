"""Source adapters: where outside records come from. One interface, one module per way in.

An adapter yields raw records (JSON objects) with where each came from; the receiver
validates, digests and signature-checks them (records.py) and stores them (store.py) with the
retrieval time. Two adapters ship: :class:`FileDrop` (a JSON array or JSON Lines file a
provider delivered: ``edgeproof cloud outside import --source NAME FILE``) and
:class:`HttpJson` (a provider's HTTP API returning the same JSON, fetched with the standard
library; its URL is the operator's configuration, never called in tests beyond loopback).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cloud_stub.outside.records import RecordError
from cloud_stub.texts import msg

MAX_BYTES = 64 * 1024 * 1024


class SourceAdapter(ABC):
    """Yields ``(where, raw record)``; ``where`` names the file/URL and the record's position."""

    name: str

    @abstractmethod
    def fetch(self) -> Iterator[tuple[str, Any]]:
        """Every raw record this delivery holds."""


def _records(text: str, where: str) -> Iterator[tuple[str, Any]]:
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(where, "(file)", msg("a JSON array of records"),
                              f"line {exc.lineno}: {exc.msg}") from None
        for i, item in enumerate(items, start=1):
            yield msg("{file} record {n}", file=where, n=i), item
        return
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield msg("{file} line {n}", file=where, n=n), json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordError(msg("{file} line {n}", file=where, n=n), "(line)", msg("one JSON object per line"),
                              exc.msg) from None


class FileDrop(SourceAdapter):
    """A delivered file: a JSON array of records, or one record per line (JSON Lines), UTF-8."""

    def __init__(self, name: str, path: str | Path) -> None:
        self.name, self.path = name, Path(path)

    def fetch(self) -> Iterator[tuple[str, Any]]:
        try:
            if self.path.stat().st_size > MAX_BYTES:
                raise RecordError(str(self.path), "(file)", msg("at most {max_bytes} bytes", max_bytes=MAX_BYTES))
            text = self.path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise RecordError(str(self.path), "(file)", msg("a readable file"), exc.strerror) from None
        except UnicodeDecodeError:
            raise RecordError(str(self.path), "(file)", msg("UTF-8 text")) from None
        yield from _records(text, str(self.path))


class HttpJson(SourceAdapter):
    """A provider's HTTP API: GET ``url`` (with ``?enterprise=ID`` when given) returning records as
    a JSON array or JSON Lines; an optional bearer token. Subclass for a provider's own paging."""

    def __init__(self, name: str, url: str, *, enterprise: str | None = None, token: str | None = None,
                 timeout: float = 30.0) -> None:
        self.name, self.url, self.enterprise, self.token, self.timeout = name, url, enterprise, token, timeout

    def fetch(self) -> Iterator[tuple[str, Any]]:
        url = self.url
        if self.enterprise is not None:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"enterprise": self.enterprise})
        req = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   **({"Authorization": f"Bearer {self.token}"} if self.token else {})})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - operator-configured URL
                body = resp.read(MAX_BYTES + 1)
        except OSError as exc:
            raise RecordError(self.url, "(request)", msg("a reachable source API"), str(exc)[:80]) from None
        if len(body) > MAX_BYTES:
            raise RecordError(self.url, "(response)", msg("at most {max_bytes} bytes", max_bytes=MAX_BYTES))
        yield from _records(body.decode("utf-8-sig", errors="replace"), self.url)
