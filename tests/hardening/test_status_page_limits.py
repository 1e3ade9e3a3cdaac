"""Issue 18: the status page under hostile or careless clients: idle sockets from one host
do not starve the others, odd query parameters are JSON 400s, a database error about
consent is shown as an error, a carrier-NAT bind is refused. Plus a property-based sweep
of every endpoint: never a 500, nothing changes without the password."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.identity import init_identity
from gateway.runtime import Gateway
from gateway.status import collect
from gateway.status.auth import write_password_file
from gateway.status.server import BindError, parse_bind
from gateway.store import Store
from tests.status.status_helpers import GatewayThread, http_get, make_profile, wait_for

PASSWORD = "correct horse battery staple"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"staff:{PASSWORD}".encode()).decode()}


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real sim-factory gateway (no uplink) with a password-protected status page."""
    state = tmp_path_factory.mktemp("gw")
    init_identity(state, None, "sim-factory")
    pw = state / "status.pw"
    write_password_file(pw, PASSWORD)
    gt = GatewayThread(Gateway(make_profile(None, password_file=str(pw)), state, simulate=True)).start()
    url = gt.gw.status_server.url
    try:
        wait_for(lambda: http_get(url + "/healthz")[0] == 200, 30, 0.1, "the status page")
        yield {"gt": gt, "gw": gt.gw, "url": url, "state": state}
    finally:
        gt.stop()


def _get_from(source: str, url: str, path: str, timeout: float = 5.0) -> int:
    """GET path with the client socket bound to ``source`` (127.0.0.2 is another host on loopback)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout, source_address=(source, 0)) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]) if data else 0


def test_idle_sockets_from_one_host_do_not_starve_another(page: dict[str, Any]) -> None:
    host, port = page["url"].removeprefix("http://").rsplit(":", 1)
    idle = [socket.create_connection((host, int(port)), timeout=5, source_address=("127.0.0.1", 0))
            for _ in range(20)]
    try:
        t0 = time.monotonic()
        assert _get_from("127.0.0.2", page["url"], "/healthz") == 200
        assert _get_from("127.0.0.3", page["url"], "/healthz") == 200
        assert time.monotonic() - t0 < 4.0
    finally:
        for s in idle:
            s.close()
    # Once the idle sockets are gone, the first host is served again.
    wait_for(lambda: _get_from("127.0.0.1", page["url"], "/healthz") == 200, 15, 0.1, "host 1 served again")


@pytest.mark.parametrize("query", ["before=" + "9" * 30, "before=-1", "before=1e5", "before=%EF%BC%91",
                                   "limit=nan", "minutes=nan", "minutes=inf", "limit=abc"])
def test_bad_query_parameters_are_json_400(page: dict[str, Any], query: str) -> None:
    path = "/api/series" if query.startswith("minutes") else "/api/batches"
    code, headers, body = http_get(f"{page['url']}{path}?{query}", headers=AUTH)
    assert code == 400, (query, code, body[:200])
    assert headers["Content-Type"] == "application/json" and "bad query" in json.loads(body)["message"]


def test_a_30_digit_batch_path_is_404_not_500(page: dict[str, Any]) -> None:
    code, _, _ = http_get(f"{page['url']}/api/batches/{'9' * 30}", headers=AUTH)
    assert code == 404


@pytest.mark.parametrize("bind", ["100.64.0.1:8080", "100.127.255.254:80", "8.8.8.8:80"])
def test_carrier_nat_and_public_binds_are_refused(bind: str) -> None:
    with pytest.raises(BindError, match="public address"):
        parse_bind(bind)


@pytest.mark.parametrize("bind", ["127.0.0.1:8080", "192.168.1.20:8080", "10.0.0.5:80"])
def test_lan_binds_are_accepted(bind: str) -> None:
    parse_bind(bind)


def test_a_database_error_is_not_read_as_no_local_revocations(tmp_path: Path) -> None:
    """With the changes table unreadable, the page must not say what is allowed."""
    store = Store(tmp_path / "edgeproof.db", "NORMAL")
    try:
        store.db.execute("ALTER TABLE consent_changes RENAME COLUMN categories TO cats")
        profile = make_profile(None)
        gw = SimpleNamespace(profile=profile, state_dir=tmp_path, store=store, gate=None, sender=None)
        view = collect.consent_view(gw)  # type: ignore[arg-type]
    finally:
        store.close()
    assert view["in_force"] is None and view["in_force_state"] == "error"
    assert "categories" in view["in_force_error"]


# -- property-based sweep of every endpoint -------------------------------------------------------
PATHS = ["/", "/healthz", "/api/status", "/api/devices", "/api/series", "/api/batches", "/api/batches/1",
         "/api/consent", "/metrics", "/static/page.css", "/static/page.js", "/nope"]
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
token = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="%#?&=/"), max_size=12)


def _state_digest(gw: Any) -> str:
    """What a visitor could change if the page let it (the gateway's own background writes
    -- readings, watermarks, batches -- are not the visitor's): the changes made on site
    (consent, declarations), the acknowledgements, and the key and password files."""
    con = sqlite3.connect(f"file:{gw.store.path}?mode=ro", uri=True)
    try:
        h = hashlib.sha256()
        for f in sorted(gw.state_dir.iterdir()):
            if f.suffix in (".key", ".pw", ".json") and f.name != "status.json":
                h.update(f.name.encode() + f.read_bytes())
        for table in ("consent_changes", "declarations", "acks"):
            try:
                rows = con.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()  # noqa: S608 - fixed names
            except sqlite3.OperationalError:
                continue
            h.update(repr((table, rows)).encode())
        return h.hexdigest()
    finally:
        con.close()


def _raw(url: str, method: str, target: str, headers: dict[str, str], body: bytes) -> int:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        head = f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        s.sendall(head.encode("utf-8", "surrogateescape") + b"\r\n" + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"]),
       path=st.one_of(st.sampled_from(PATHS), text.map(lambda t: "/" + t.replace(" ", "%20"))),
       params=st.dictionaries(st.sampled_from(["limit", "before", "minutes", "x", "lang"]),
                              st.one_of(token, st.integers(-10**40, 10**40).map(str),
                                        st.sampled_from(["nan", "inf", "-inf", "1e999", ""])), max_size=3),
       auth=st.sampled_from([None, "good", "bad", "junk"]),
       body=st.binary(max_size=200))
def test_every_endpoint_never_500_and_never_changes_state(page: dict[str, Any], method: str, path: str,
                                                          params: dict[str, str], auth: str | None,
                                                          body: bytes) -> None:
    from urllib.parse import quote, urlencode

    target = quote(path, safe="/%") + ("?" + urlencode(params) if params else "")
    headers = {"good": AUTH, "bad": {"Authorization": "Basic " + base64.b64encode(b"x:wrong").decode()},
               "junk": {"Authorization": "Basic %%%"}, None: {}}[auth]
    before = _state_digest(page["gw"])
    code = _raw(page["url"], method, target, headers, body)
    assert code and code < 500, (method, target, code)
    if auth != "good" and path != "/healthz" and method in ("GET", "HEAD"):
        assert code == 401, (method, target, code)
    assert _state_digest(page["gw"]) == before
