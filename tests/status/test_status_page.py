"""The status page and its JSON API against a real gateway (sim-factory twins, real receiver)."""

from __future__ import annotations

import json
import re

import pytest
from status_helpers import assert_no_secret, gateway_secrets, get_json, http_get, wait_for

from gateway.status.server import BindError, StatusServer, parse_bind


def test_status_shows_devices_values_quality_and_errors(live):
    st = get_json(live["url"] + "/api/status")
    assert st["site"]["id"] == "sim-factory" and st["simulate"] is True
    devices = {d["name"]: d for d in st["devices"]}
    assert set(devices) == {d.name for d in live["gw"].profile.devices if d.enabled}
    for d in st["devices"]:
        assert d["polls"] >= 1 and d["points"], d["name"]
        assert {"state", "failures", "errors", "last_error", "latency_ms"} <= set(d)
    for name in ("press-1-meter", "press-2-meter", "compressor-meter"):
        d = devices[name]
        assert d["state"] == "healthy" and d["polls"] >= 3 and d["failures"] == 0 and d["errors"] == {}
        by = {p["name"]: p for p in d["points"]}
        assert by["voltage_l1"]["quality"] == "good" and 200 < by["voltage_l1"]["value"] < 260
        assert by["voltage_l1"]["unit"] == "V"
    assert st["identity"]["enterprise_id"] == "ent-status-test"


def test_store_retention_and_uplink_figures(live):
    st = get_json(live["url"] + "/api/status")
    s = st["store"]
    assert s["size_bytes"] > 0 and s["max_bytes"] == 2048e6
    assert s["readings_per_s"] > 0 and s["days_until_full"] > 0
    assert 0 < s["history_days"] <= s["retention_days"] == 90
    u = st["uplink"]
    assert u["transport"] == "http" and u["acked_seq"] >= 1 and u["head_seq"] >= u["acked_seq"]
    assert u["backlog"] == u["head_seq"] - u["acked_seq"] and u["last_ack_age_s"] >= 0


def test_series_for_charts(live):
    ser = get_json(live["url"] + "/api/series?minutes=5")
    pts = {(p["device"], p["point"]): p for p in ser["points"]}
    p = pts[("press-1-meter", "power_total")]
    assert len(p["t"]) == len(p["v"]) >= 1 and any(v is not None for v in p["v"])
    assert ser["indicators"], "indicator windows of 5 s have closed"
    assert all(len(s["t"]) == len(s["v"]) for s in ser["indicators"])


def test_audit_decodes_each_batch_that_left(live):
    gw = live["gw"]
    b = get_json(live["url"] + "/api/batches?limit=200")
    assert b["batches"] and b["acked_seq"] >= 1
    seqs = [x["seq"] for x in b["batches"]]
    assert seqs == sorted(seqs, reverse=True)
    first = b["batches"][-1]
    # The decoded body is exactly the signed bytes in the outbox.
    body = gw.store.outbox_after(first["seq"] - 1, 1)[0][2]
    assert first["body"] == json.loads(body)
    assert first["body"]["gateway"] == gw.identity.gateway_id and first["n_records"] == len(first["body"]["records"])
    assert first["acknowledged"] is True
    one = get_json(f"{live['url']}/api/batches/{first['seq']}")
    assert one["hash"] == first["hash"]
    assert http_get(f"{live['url']}/api/batches/999999")[0] == 404


def test_consent_view_degrades_or_shows_policy(live):
    c = get_json(live["url"] + "/api/consent")
    assert "categories_sent" in c and c["categories_sent"]
    assert isinstance(c["audit"], list)


def test_declarations_are_shown_once_signed(live):
    from gateway.declarations import ledger
    from gateway.declarations.model import parse
    from gateway.store import Store

    other = Store(live["gw"].store.path, "NORMAL")  # what `edgeproof declare add` opens
    try:
        did = ledger.add(other, parse("stocktake", "2026-10-31", "2026-11-01", "pallet-stack-1", "count by Wang"))
    finally:
        other.close()
    got = wait_for(lambda: [d for d in get_json(live["url"] + "/api/consent")["declarations"]
                            if d["id"] == did and d["signed_in_batch"] is not None], 30, what="a signed declaration")
    assert got[0]["kind"] == "stocktake" and got[0]["assets"] == ["pallet-stack-1"]
    assert got[0]["note"] == "count by Wang"  # shown on site; only a token of it is signed


def test_metrics_exposition(live):
    code, headers, body = http_get(live["url"] + "/metrics")
    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    for name in ("edgeproof_device_polls_total", "edgeproof_device_poll_failures_total", "edgeproof_store_size_bytes",
                 "edgeproof_uplink_backlog_batches", "edgeproof_uplink_last_ack_age_seconds"):
        assert f"# TYPE {name} " in text
    assert re.search(r'^edgeproof_device_polls_total\{device="press-1-meter"\} \d+$', text, re.M)
    sample = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"\n]*"(,[a-z_]+="[^"\n]*")*\})? -?[0-9.e+-]+$|^# (HELP|TYPE) ')
    for line in text.strip().splitlines():
        assert sample.match(line), line


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"])
def test_read_only(live, method):
    code, headers, body = http_get(live["url"] + "/api/status", method=method)
    assert code == 405 and headers["Allow"] == "GET, HEAD"


def test_head_and_security_headers(live):
    code, headers, body = http_get(live["url"] + "/", method="HEAD")
    assert code == 200 and body == b"" and int(headers["Content-Length"]) > 0
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_no_external_resources_in_the_page(live):
    for path in ("/", "/static/page.js", "/static/page.css"):
        text = http_get(live["url"] + path)[2].decode()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path
        assert "cdn" not in text.lower()


def test_no_secret_on_any_page(live):
    url, gw = live["url"], live["gw"]
    secrets = gateway_secrets(live["state"], live["token"])
    if gw.profile.privacy:  # the privacy subsystem's HMAC (tokenisation) key is checked too
        assert "privacy.key" in secrets
    paths = ["/", "/static/page.css", "/static/page.js", "/api/status", "/api/devices", "/api/series",
             "/api/series?minutes=60", "/api/batches?limit=200", "/api/consent", "/metrics", "/healthz", "/nope"]
    paths += [f"/api/batches/{s}" for s in range(1, gw.store.outbox_head() + 1)]
    for p in paths:
        code, headers, body = http_get(url + p)
        assert code in (200, 404), (p, code)
        assert_no_secret(body + json.dumps(headers).encode(), secrets, p)
    snap = (live["state"] / "status.json").read_bytes()
    assert_no_secret(snap, secrets, "status.json")


def test_password(live, tmp_path):
    from gateway.status.auth import PasswordFileError, write_password_file

    pw_file = tmp_path / "status.pw"
    write_password_file(pw_file, "correct horse battery")
    assert "correct horse" not in pw_file.read_text() and pw_file.stat().st_mode & 0o777 == 0o600
    srv = StatusServer(live["gw"], "127.0.0.1:0", pw_file)
    srv.start()
    try:
        import base64

        def auth(pw: str) -> dict[str, str]:
            return {"Authorization": "Basic " + base64.b64encode(f"staff:{pw}".encode()).decode()}

        code, headers, _ = http_get(srv.url + "/api/status")
        assert code == 401 and headers["WWW-Authenticate"].startswith("Basic ")
        assert http_get(srv.url + "/metrics", headers=auth("wrong"))[0] == 401
        assert http_get(srv.url + "/", headers=auth("correct horse battery"))[0] == 200
        assert http_get(srv.url + "/api/status", headers=auth("correct horse battery"))[0] == 200
        assert http_get(srv.url + "/healthz")[0] == 200
    finally:
        srv.stop()
    plain = tmp_path / "plain.pw"
    plain.write_text("hunter2\n")
    with pytest.raises(PasswordFileError):
        StatusServer(live["gw"], "127.0.0.1:0", plain)


def test_bind_must_be_lan_or_loopback():
    assert parse_bind("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_bind("192.168.1.20:8080") == ("192.168.1.20", 8080)
    assert parse_bind("[::1]:8080") == ("::1", 8080)
    for bad in ("8.8.8.8:80", "127.0.0.1", "127.0.0.1:99999"):
        with pytest.raises(BindError):
            parse_bind(bad)


def test_status_cli_falls_back_to_the_snapshot_when_the_page_needs_a_password(live, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from gateway.status.auth import write_password_file

    pw_file = tmp_path / "pw"
    write_password_file(pw_file, "staff-only")
    srv = StatusServer(live["gw"], "127.0.0.1:0", pw_file)
    srv.start()
    try:
        state = tmp_path / "state"
        state.mkdir()
        snap = json.loads((live["state"] / "status.json").read_text())
        snap["status_url"] = srv.url
        (state / "status.json").write_text(json.dumps(snap))
        exe = str(Path(sys.executable).parent / "edgeproof")
        res = subprocess.run([exe, "status", "--state", str(state), "--json"], capture_output=True, text=True,
                             timeout=60, env=os.environ)
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        assert doc["running"] and doc["source"].startswith("snapshot") and "needs a password" in doc["source"]
        assert doc["identity"]["gateway_id"] == live["gw"].identity.gateway_id
    finally:
        srv.stop()


def test_connection_flood_is_bounded(live):
    import socket
    import time

    srv = StatusServer(live["gw"], "127.0.0.1:0")
    srv.start()
    idle = []
    try:
        for _ in range(16):
            idle.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
        time.sleep(0.3)
        with pytest.raises(OSError):  # the 17th connection is closed without an answer
            http_get(srv.url + "/healthz", timeout=5)
        for s in idle:
            s.close()
        idle.clear()
        # The slots free as the server notices the closed sockets; a slow machine takes longer.
        assert wait_for(lambda: http_get(srv.url + "/healthz")[0] == 200, 15, 0.25, what="a free slot")
    finally:
        for s in idle:
            s.close()
        srv.stop()


def test_first_boot_provisioning_result_is_shown(live):
    """What `edgeproof provision` recorded reaches /api/status (the page's Uplink table shows it)."""
    from gateway.provision.state import new_state, write_provision_state

    assert get_json(live["url"] + "/api/status")["provision"] is None
    doc = new_state({"file": "/boot/firmware/edgeproof-provision.toml", "site_id": "sim-factory"}, 3)
    for s in doc["steps"]:
        s.update(status="ok", message=f"{s['name']} fine", at=1.0)
    doc.update(status="done", finished_at=2.0)
    write_provision_state(live["state"], doc)
    try:
        wait_for(lambda: get_json(live["url"] + "/api/status")["provision"] is not None, 10,
                 what="the provisioning record (the status document is cached for 1 s)")
        st = get_json(live["url"] + "/api/status")
        assert st["provision"]["status"] == "done" and st["provision"]["attempt"] == 3
        assert [s["name"] for s in st["provision"]["steps"]] == ["profile", "init", "enroll", "token", "probe",
                                                                 "selftest"]
        assert b"provisionText(st.provision" in http_get(live["url"] + "/static/page.js")[2]
    finally:
        (live["state"] / "provision.json").unlink()
