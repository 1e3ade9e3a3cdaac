"""The status page's "What the bank sees" section and its actions, on a running gateway and a real
receiver: the view fetched on demand (signed request), a finding with its numbers, a dispute made
through the page's JSON API (what its buttons call) that reaches the bank, the bank's decision back
on the page; actions refused without the page's password, cross-origin, or without a JSON body."""

from __future__ import annotations

import base64
import json
import urllib.request

import msgspec
from status_helpers import ENTERPRISE, assert_no_secret, gateway_secrets, get_json, http_get, wait_for

from gateway import wire
from gateway.commands.demo import _cloud
from gateway.i18n import render_data
from gateway.identity import load_identity
from gateway.status.auth import write_password_file
from gateway.status.server import StatusServer

PASSWORD = "correct horse battery"


def _auth() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"staff:{PASSWORD}".encode()).decode()}


def post(url: str, obj: object, headers: dict[str, str] | None = None,
         ctype: str = "application/json") -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": ctype, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _equivocate(state, url: str) -> None:
    ident = load_identity(state)
    body = {"v": 1, "gateway": ident.gateway_id, "enterprise": ident.enterprise_id, "kid": ident.kid, "seq": 1,
            "prev": wire.GENESIS_PREV, "boot": 99, "created": "2026-11-27T00:00:00.000Z",
            "clock": {"synced": True, "source": "kernel"},
            "loss": {"polls_failed": 0, "readings_purged_unsent": 0, "batches_dropped": 0}, "records": []}
    req = urllib.request.Request(url + "/v1/batches", data=wire.sign_body(body, ident.signing_key).envelope(),
                                 method="POST", headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.code == 409
    else:
        raise AssertionError("a second batch 1 was accepted")


def test_the_running_gateway_fetches_the_view_by_itself(live):
    from gateway.enterprise_view import store

    doc = wait_for(lambda: store.load(live["state"]), 30, what="the first periodic fetch (5 s after start)")
    assert doc["view"]["kind"] == "enterprise_view" and doc["view"]["enterprise_id"] == ENTERPRISE
    assert (live["state"] / store.VIEW_FILE).stat().st_mode & 0o777 == 0o600


def test_actions_need_the_page_password(live):
    code, headers, _ = http_get(live["url"] + "/api/status")
    assert code == 200  # this gateway's page has no password ...
    status, out = post(live["url"] + "/api/disputes", {"finding": "a" * 64, "kind": "contest", "note": "x"})
    assert status == 403 and "password" in out["message"]  # ... so nobody may speak for the enterprise through it


def test_dispute_from_the_page_to_the_bank_and_back(live, receiver, tmp_path):
    gw = live["gw"]
    pw = tmp_path / "status.pw"
    write_password_file(pw, PASSWORD)
    gw.profile = msgspec.structs.replace(gw.profile, site=msgspec.structs.replace(
        gw.profile.site, complaint_contact="EdgeProof desk, 400-000-0000"))
    srv = StatusServer(gw, "127.0.0.1:0", pw)
    srv.start()
    try:
        url = srv.url
        _equivocate(live["state"], receiver.url)
        # the bank its consent names (the receiver serves no other)
        bank = _cloud("bank", "add", "--db", str(receiver.db), "--name", "bank-demo", "--enterprise", ENTERPRISE)
        assert http_get(url + "/api/enterprise")[0] == 401
        assert post(url + "/api/enterprise/refresh", {})[0] == 401
        assert post(url + "/api/enterprise/refresh", {}, _auth(), ctype="text/plain")[0] == 415
        assert post(url + "/api/enterprise/refresh", {}, {**_auth(), "Origin": "http://evil.example"})[0] == 403
        status, out = post(url + "/api/enterprise/refresh", {}, {**_auth(), "Origin": url})
        assert status == 200 and out["ok"], out
        v = get_json(url + "/api/enterprise", headers=_auth())
        assert v["actions_enabled"] and v["complaint_contact"] == "EdgeProof desk, 400-000-0000"
        assert isinstance(v["access_log"], list)  # who read the enterprise's data (the receiver's access log)
        equiv = next(f for f in v["findings"] if f["kind"] == "equivocation")
        assert equiv["numbers"] and "seq 1" in equiv["numbers"], equiv

        status, out = post(url + "/api/disputes", {"finding": "nothex", "kind": "contest", "note": "x"}, _auth())
        assert status == 400 and out["field"] == "finding"
        # the page shows the answer in its reader's language: the same text as data it renders (page.js msgText)
        assert out["message_text"]["t"] == "{key}: {message}" and out["message_text"]["p"]["key"] == "finding", out
        assert render_data(out["message_text"], "zh-CN") != out["message"], out
        status, out = post(url + "/api/disputes", {"finding": equiv["hash"], "kind": "explain", "reason": "maintenance",
                                                   "note": "SD card swapped during maintenance",
                                                   "finding_id": equiv["id"]}, _auth())
        assert status == 201, out
        did = out["id"]
        assert out["message"] == render_data(out["message_text"], "en") and f"#{did}" in out["message"], out
        assert "已记录" in render_data(out["message_text"], "zh-CN"), out
        assert post(url + "/api/confirm", {"note": "Li Wei"}, _auth())[0] == 201
        gw_id = load_identity(live["state"]).gateway_id

        def decided_by_bank() -> bool:
            code, page = 0, {}
            req = urllib.request.Request(f"{receiver.url}/v1/feed/{ENTERPRISE}/disputes",
                                         headers={"Authorization": f"Bearer {bank}"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                code, page = resp.status, json.loads(resp.read())
            return code == 200 and any(i["key"] == f"{gw_id}/{did}" for i in page["items"])

        wait_for(decided_by_bank, 60, what="the dispute at the bank")  # signed and sent by the running gateway
        req = urllib.request.Request(f"{receiver.url}/v1/feed/{ENTERPRISE}/disputes/{gw_id}/{did}/decision",
                                     data=json.dumps({"decision": "accepted", "reason": "maintenance log seen"})
                                     .encode(), method="POST", headers={"Authorization": f"Bearer {bank}",
                                                                        "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.loads(resp.read())["decision"]["decision"] == "accepted"
        assert post(url + "/api/enterprise/refresh", {}, _auth())[0] == 200
        v = get_json(url + "/api/enterprise", headers=_auth())
        mine = next(d for d in v["disputes"] if d["id"] == did)
        assert mine["decisions"] == [{"bank": "bank-demo", "decision": "accepted", "reason": "maintenance log seen",
                                      "decided_at": mine["decisions"][0]["decided_at"]}]
        assert mine["signed_in_batch"] is not None and mine["source"] == "page"
        assert any(d["action"] == "confirm" and d["signed_in_batch"] is not None for d in v["disputes"])
        raw = http_get(url + "/api/enterprise", headers=_auth())[2]
        assert_no_secret(raw, gateway_secrets(live["state"], live["token"]), "/api/enterprise")
        html = http_get(url + "/", headers=_auth())[2].decode()
        assert 'id="bank-view"' in html and 'id="dispute-form"' in html and 'id="access-log-body"' in html
    finally:
        srv.stop()


def test_the_page_shows_what_the_bank_sees_in_a_browser(live, tmp_path):
    """Runs after the dispute above: the page (headless Chromium, its JavaScript run) shows the score
    line, each finding with its numbers, the dispute with the bank's decision, the access log's place
    and the complaint contact."""
    import re
    import shutil

    import pytest
    from test_browser import CHROMIUM, chromium

    if not shutil.which(CHROMIUM):
        pytest.skip("chromium not installed (make sysdeps)")
    res = chromium(tmp_path, "--dump-dom", live["url"] + "/")
    dom = res.stdout
    assert 'data-loaded="1"' in dom, res.stderr[-2000:]
    (tmp_path / "dom.html").write_text(dom)
    text = re.sub(r"<[^>]+>", " ", dom)
    assert 'id="bank-score"' in dom and ("Score " in text or "No score computed yet." in text)
    assert 'id="bank-findings"' in dom and "equivocation" in text
    assert re.search(r"explain \(maintenance\) of finding #\d+, \S+: bank-demo: accepted \(maintenance log seen\)",
                     text), text[-3000:]
    assert 'id="access-log-placeholder"' not in dom and ('id="access-log-list"' in dom
                                                         or "Nobody has read this enterprise's data" in text)
    assert "Questions or complaints about how your data is used: EdgeProof desk, 400-000-0000" in text
    assert 'id="confirm-button" type="button" hidden' in dom  # no password on this page: no actions
