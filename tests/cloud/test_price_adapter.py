"""`cloud price pull`: the http-json price adapter against a price service on loopback.

Good answers are stored like a CSV import; a bad point, a non-JSON answer or an HTTP error is an error
naming the source and stores nothing.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner

from cloud_stub.banks import add_bank
from cloud_stub.cli import cloud


class _Service:
    def __init__(self) -> None:
        self.answer: tuple[int, bytes] = (200, b"{}")
        self.seen: list[tuple[str, dict[str, list[str]]]] = []


@pytest.fixture
def service() -> Iterator[tuple[str, _Service]]:
    state = _Service()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            u = urllib.parse.urlsplit(self.path)
            state.seen.append((self.headers.get("Authorization") or "", urllib.parse.parse_qs(u.query)))
            code, body = state.answer
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/prices", state
    srv.shutdown()
    srv.server_close()


def _rows(rdb: Any) -> list[tuple[Any, ...]]:
    with rdb.read() as conn:
        return [tuple(r) for r in conn.execute("SELECT product_class, day, price, source FROM price_points"
                                               " ORDER BY product_class").fetchall()]


def test_pull_stores_the_day_and_refuses_bad_answers(rdb, service, monkeypatch) -> None:
    url, state = service
    add_bank(rdb, "bank-p", "ent-p")
    rdb_path = str(rdb.path)
    monkeypatch.setenv("PRICE_TOKEN", "s3cret")
    state.answer = (200, json.dumps({"prices": [
        {"day": "2026-09-09", "product_class": "cu", "price": 61.5, "currency": "CNY", "unit": "kg"},
        {"day": "2026-09-09", "product_class": "al", "price": 19, "currency": "CNY", "unit": "kg"}]}).encode())
    run = CliRunner().invoke
    res = run(cloud, ["price", "pull", "--db", rdb_path, "--bank", "bank-p", "--url", url, "--token-env",
                      "PRICE_TOKEN", "--class", "cu", "--class", "al", "--day", "2026-09-09"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["imported"] == 2
    assert state.seen[-1] == ("Bearer s3cret", {"day": ["2026-09-09"], "product_class": ["al", "cu"]})
    assert _rows(rdb) == [("al", "2026-09-09", 19.0, "api:http-json"), ("cu", "2026-09-09", 61.5, "api:http-json")]
    before = _rows(rdb)
    for answer, words in (
        ((200, json.dumps({"prices": [{"day": "2026-09-10", "product_class": "cu", "price": -3, "currency": "CNY",
                                       "unit": "kg"}]}).encode()), "$.prices[0]: column price"),
        ((200, b"<html>"), "not JSON"),
        ((503, b"{}"), "HTTP 503"),
        ((200, b'{"prices": 3}'), 'expected {"prices"'),
    ):
        state.answer = answer
        res = run(cloud, ["price", "pull", "--db", rdb_path, "--bank", "bank-p", "--url", url, "--class", "cu",
                          "--day", "2026-09-10"])
        assert res.exit_code == 1 and words in res.output, res.output
        assert "Traceback" not in res.output and _rows(rdb) == before
