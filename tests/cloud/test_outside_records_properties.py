"""Property tests of the outside-record parser: any JSON either parses or fails with a RecordError naming
where and which key (never another exception), and a record's digest depends on its content only."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_stub.outside import records

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
NEWS = st.fixed_dictionaries({"sentiment": st.floats(-1, 1), "headline": st.text(min_size=1, max_size=20).filter(
    str.strip)})


@settings(max_examples=300, deadline=None)
@given(raw=JSON | st.dictionaries(st.sampled_from([*records.FIELDS, "signature", "x"]), JSON, max_size=7))
def test_anything_parses_or_is_refused_with_where_and_key(raw: Any) -> None:
    try:
        rec = records.parse(raw, "f.jsonl line 1")
    except records.RecordError as exc:
        assert str(exc).startswith("f.jsonl line 1: ") and ": expected " in str(exc)
    else:
        assert len(rec.sha256) == 64 and rec.kind in records.KINDS


@settings(max_examples=100, deadline=None)
@given(data=NEWS, day=st.dates().map(lambda d: d.isoformat()).filter(lambda s: len(s) == 10))
def test_the_digest_is_the_content_not_the_layout(data: dict[str, Any], day: str) -> None:
    rec = {"source": "news-wire", "kind": "news", "enterprise_id": "ent-1", "date": day, "data": data}
    shuffled = json.loads(json.dumps(dict(reversed(list(rec.items())))))
    a, b = records.parse(rec, "a"), records.parse(shuffled, "b")
    assert a.sha256 == b.sha256 == records.digest(rec)
    changed = records.parse({**rec, "data": {**data, "headline": data["headline"] + "!"}}, "c")
    assert changed.sha256 != a.sha256


def test_the_http_adapter_reads_a_source_api_on_loopback() -> None:
    """HttpJson against a provider API served on 127.0.0.1 (no network): JSON Lines in, records with where
    each came from out; a bearer token sent; an unreachable source is a RecordError, not a traceback."""
    import http.server
    import threading

    from cloud_stub.outside.adapters import HttpJson

    body = "\n".join(json.dumps({"kind": "tax", "enterprise_id": "ent-1", "date": "2026-09-01",
                                 "data": {"rating": r}}) for r in ("A", "C")).encode()
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            seen.append(f"{self.path} {self.headers.get('Authorization')}")
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/v1/tax"
        got = [records.parse(raw, where, "tax-bureau") for where, raw in
               HttpJson("tax-bureau", url, enterprise="ent-1", token="t0k").fetch()]
    finally:
        srv.shutdown()
    assert [g.content["data"]["rating"] for g in got] == ["A", "C"]
    assert seen == ["/v1/tax?enterprise=ent-1 Bearer t0k"]
    try:
        list(HttpJson("tax-bureau", url, timeout=2).fetch())
    except records.RecordError as exc:
        assert "expected a reachable source API" in str(exc)
    else:
        raise AssertionError("an unreachable source must be a RecordError")
