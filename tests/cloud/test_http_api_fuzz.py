"""Every endpoint of the receiver's HTTP API, driven with random and extreme input (Hypothesis).

The routes come from the receiver's own OpenAPI description, so a new endpoint is fuzzed without
editing this file; ``test_every_route_is_fuzzed`` fails when a route has a parameter or body this
file cannot generate. For each request: the status is one the OpenAPI description lists for that
route (never a 500), the body is a JSON object of the documented error shape, no traceback leaks,
and no table changes (nothing in these requests is authenticated to write: junk envelopes and
enrollments, and bank reads). Afterwards the receiver still serves and still accepts a good batch.

Real receiver on loopback, real store (SQLite here; PostgreSQL in test_http_api_fuzz_postgres.py).
Bounded: ``MAX_EXAMPLES`` per route keeps the file to a few seconds per store.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from cloud_helpers import FakeGateway, indicator
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from cloud_stub.banks import add_bank
from cloud_stub.db import ReceiverDB
from cloud_stub.http_api import create_app
from cloud_stub.json_limits import MAX_DEPTH

MAX_EXAMPLES = int(os.environ.get("EDGEPROOF_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _spec() -> tuple[dict[str, Any], set[tuple[str, str]]]:
    """The OpenAPI description of an app over a throwaway database, and every (method, path) the app
    routes (only the routes are read)."""
    with tempfile.TemporaryDirectory() as d:
        rdb = ReceiverDB(Path(d) / "spec.db")
        try:
            app = create_app(rdb, SigningKey.generate())
            routed = {(m, r.path) for r in app.routes if isinstance(r, APIRoute) for m in r.methods}
            return app.openapi(), routed
        finally:
            rdb.close()


SPEC, APP_ROUTES = _spec()
ROUTES = sorted((method.upper(), path) for path, ops in SPEC["paths"].items() for method in ops)

# -- hostile values --------------------------------------------------------------------------

HUGE = ["9" * 30, str(2**63), str(-(2**63) - 1), str(2**64), "9" * 5000, "-" + "9" * 40, "1e309", "nan", "inf",
        "-inf", "1.5", "-0", "0x10", "1_000", " 1", "", "true", "null", "[]", "{}"]
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=8).map(lambda s: s * 250),  # long
    st.sampled_from(["\x00", "a\x00b", "é", "名前", "🙂", "%00", "%", "..%2f", "' OR 1=1 --", "\\", '"', "ent-1",
                     "gw-1", "r:1", "cjox"]),
)
INT_TEXT = st.one_of(st.integers().map(str), st.integers(min_value=-(2**70), max_value=2**70).map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr), st.sampled_from(HUGE))
CURSORS = st.one_of(TEXT, st.builds(lambda k, n: base64.urlsafe_b64encode(f"{k}:{n}".encode()).decode().rstrip("="),
                                    st.sampled_from(["r", "i", "f", "s", "a", "x", ""]), INT_TEXT))
PATH_TEXT = st.one_of(TEXT, INT_TEXT).filter(lambda s: s not in ("", ".", "..") and "/" not in s)

JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
                      st.floats(allow_nan=False), st.text(max_size=30))
JSON = st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                    max_leaves=12)


def _nested(depth: int, kind: str) -> bytes:
    return (kind[0] * depth + "1" + kind[1] * depth).encode() if kind == "[]" else \
        ('{"a":' * depth + "1" + "}" * depth).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


BODIES = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.builds(_nested, st.sampled_from([MAX_DEPTH + 1, 1000, 5000, 100_000]), st.sampled_from(["[]", "{}"])),
    # envelope-shaped: the right keys with wrong, extreme or nested values
    st.fixed_dictionaries({"format": st.one_of(st.just("edgeproof-batch/1"), JSON), "kid": st.one_of(TEXT, JSON),
                           "body": st.one_of(st.binary(max_size=80).map(_b64), JSON,
                                             st.builds(_nested, st.sampled_from([100, 3000]),
                                                       st.just("[]")).map(_b64)),
                           "sig": st.one_of(st.binary(min_size=64, max_size=64).map(_b64), JSON)},
                          optional={"head_sig": st.one_of(st.none(), JSON, st.binary(max_size=64).map(_b64))})
    .map(lambda v: json.dumps(v).encode()),
    # enroll-shaped
    st.fixed_dictionaries({"token": st.one_of(TEXT, JSON), "gateway_id": st.one_of(TEXT, JSON),
                           "public_key": st.one_of(st.binary(max_size=40).map(_b64), TEXT, JSON),
                           "proof": st.one_of(st.binary(max_size=70).map(_b64), JSON)})
    .map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"", b"null", b"[]", b'"x"', b"1e999999", b"\xff\xfe", b'{"format": "edgeproof-batch/1"}',
                     b"x" * 20_000]),
)
KNOWN_IDS = ["ent-1", "gw-1"]
AUTH_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


def _param_values(param: dict[str, Any]) -> st.SearchStrategy[str] | None:
    """Hostile values for one OpenAPI parameter, by its schema type; None: not generated (fails the
    coverage test)."""
    schema = param.get("schema", {})
    types = {s.get("type") for s in schema.get("anyOf", [schema])} - {"null"}
    if param["name"] == "cursor":
        return CURSORS
    if types == {"integer"}:
        return st.one_of(INT_TEXT, TEXT)
    if types == {"string"}:
        return st.one_of(TEXT, INT_TEXT)
    return None


def _route_strategy(method: str, path: str, token: str) -> st.SearchStrategy[dict[str, Any]] | None:
    """A request for one route: path params, query params (some missing, some repeated), headers, body."""
    op = SPEC["paths"][path][method.lower()]
    parts: dict[str, Any] = {"path": {}, "query": {}, "header": {}}
    for p in op.get("parameters", []):
        if p["in"] == "header" and p["name"] == "authorization":
            valid = st.just(f"Bearer {token}")  # most requests get past authentication, to the parameters
            parts["header"][p["name"]] = st.one_of(
                valid, valid, valid, st.none(), AUTH_TEXT, AUTH_TEXT.map(lambda s: "Bearer " + s))
            continue
        values = _param_values(p)
        if values is None or p["in"] not in parts:
            return None
        if p["in"] == "path":
            known = st.sampled_from(KNOWN_IDS)
            parts["path"][p["name"]] = st.one_of(known, known, PATH_TEXT)
        else:
            parts["query"][p["name"]] = st.lists(values, max_size=2)
    body: st.SearchStrategy[bytes | None] = st.none()
    if "requestBody" in op:
        if set(op["requestBody"].get("content", {})) != {"application/json"}:
            return None
        body = BODIES
    return st.fixed_dictionaries({
        "path": st.fixed_dictionaries(parts["path"]), "query": st.fixed_dictionaries(parts["query"]),
        "header": st.fixed_dictionaries(parts["header"]), "body": body})


def _sweep(method: str, path: str, token: str) -> list[dict[str, Any]]:
    """Each listed extreme value alone in each parameter, with the known ids and the bank's token, and each
    listed extreme body: the cases random draws could miss, tried on every run."""
    op = SPEC["paths"][path][method.lower()]
    params = op.get("parameters", [])
    base: dict[str, Any] = {"path": {p["name"]: KNOWN_IDS[i % 2] for i, p in enumerate(params) if p["in"] == "path"},
                            "query": {}, "header": {"authorization": f"Bearer {token}"}, "body": None}
    extremes = [*HUGE, "\x00", "é" * 2000, "🙂", "' OR 1=1 --"]
    out = []
    for p in params:
        for value in extremes:
            if p["in"] == "query":
                out.append({**base, "query": {p["name"]: [value]}})
            elif p["in"] == "path" and value and "/" not in value:
                out.append({**base, "path": {**base["path"], p["name"]: value}})
            elif p["in"] == "header" and value.isascii() and value.isprintable():  # else not HTTP: the server's 400
                out.append({**base, "header": {p["name"]: "Bearer " + value}})
    if "requestBody" in op:
        out += [{**base, "body": b} for b in (_nested(MAX_DEPTH + 1, "[]"), _nested(100_000, "{}"), b"", b"null",
                                               b"9" * 400, b'{"format":"edgeproof-batch/1","kid":"k","body":"' +
                                               _b64(_nested(5000, "[]")).encode() + b'","sig":"AA=="}')]
    return out


def _send(url: str, method: str, path: str, req: dict[str, Any]) -> tuple[int, str, bytes]:
    target = path
    for name, value in req["path"].items():
        target = target.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
    query = [(k, v) for k, vs in req["query"].items() for v in vs]
    if query:
        target += "?" + urllib.parse.urlencode(query)
    headers = {"Content-Type": "application/json"}
    if req["header"].get("authorization") is not None:
        headers["Authorization"] = req["header"]["authorization"]
    host = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    try:
        conn.request(method, target, body=req["body"], headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("content-type", ""), resp.read()
    finally:
        conn.close()


def table_counts(rdb: Any) -> dict[str, int]:
    """Rows per table: what a request may not change."""
    with rdb.read() as conn:
        if rdb.dialect == "postgresql":
            names = [r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")]
        else:
            names = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        # The access log grows by design with every authenticated request (who read what); that unauthenticated
        # ones never reach it is tests/cloud/test_access_log.py's.
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in sorted(names)
                if n != "access_log"}


@pytest.fixture
def fuzz_site(receiver) -> dict[str, Any]:
    """ent-1 with an enrolled gateway, two accepted batches and a bank granted energy only."""
    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    for i in range(2):
        assert receiver.post(gw.next(records=[indicator(i)]).envelope())[1]["status"] == "accepted"
    token = add_bank(receiver.rdb, "bank-1", "ent-1", "energy")["token"]
    return {"receiver": receiver, "gateway": gw, "token": token}


def test_every_route_is_fuzzed() -> None:
    """Every route of the OpenAPI description has a generator for each of its parameters and its body."""
    assert len(ROUTES) >= 12
    hidden = APP_ROUTES - set(ROUTES)
    assert not hidden, f"routes the OpenAPI description leaves out (so nothing fuzzes them): {hidden}"
    missing = [f"{m} {p}" for m, p in ROUTES if _route_strategy(m, p, "t") is None]
    assert not missing, f"routes with a parameter or body this fuzz test cannot generate: {missing}"


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_random_and_extreme_input_gets_a_documented_json_answer(fuzz_site, method: str, path: str) -> None:
    receiver = fuzz_site["receiver"]
    responses = SPEC["paths"][path][method.lower()]["responses"]
    documented = {int(code) for code in responses}
    strategy = _route_strategy(method, path, fuzz_site["token"])
    assert strategy is not None
    before = table_counts(receiver.rdb)
    seen: set[int] = set()

    def one(req: dict[str, Any]) -> None:
        status, ctype, raw = _send(receiver.url, method, path, req)
        seen.add(status)
        assert status in documented, f"{method} {path} {req}: HTTP {status} is not documented ({documented}): {raw!r}"
        if ctype.startswith("text/plain") and "text/plain" in responses[str(status)].get("content", {}):
            return  # documented as text (GET /metrics, the Prometheus format)
        assert ctype.startswith("application/json"), f"{status} {ctype}: {raw[:200]!r}"
        assert b"Traceback" not in raw and b'File "' not in raw
        out = json.loads(raw)
        assert isinstance(out, dict)
        if status >= 400:
            assert out["status"] in ("error", "rejected") and isinstance(out["code"], str) \
                and isinstance(out["message"], str), out
        assert table_counts(receiver.rdb) == before, f"{method} {path} {req} changed the store"

    for req in _sweep(method, path, fuzz_site["token"]):  # every extreme value in every parameter, surely
        one(req)
    FUZZ(given(req=strategy)(one))()  # and random combinations
    assert seen, "no request was sent"
    _still_serving(fuzz_site)


def _still_serving(site: dict[str, Any]) -> None:
    receiver, gw = site["receiver"], site["gateway"]
    status, _, raw = _send(receiver.url, "GET", "/v1/feed/{e}/records",
                           {"path": {"e": "ent-1"}, "query": {}, "header": {"authorization": f"Bearer {site['token']}"},
                            "body": None})
    assert status == 200 and json.loads(raw)["records"]
    assert receiver.post(gw.next(records=[indicator(50)]).envelope())[1]["status"] == "accepted"
