"""The receiver's side of issue 16 over real HTTP (in-process app, SQLite; rerun on PostgreSQL by
test_enterprise_view_postgres.py): the gateway-signed request for the enterprise view and every way
it is refused, and a dispute's life at the bank (listed beside its finding, decided once, signed)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from typing import Any

from cloud_helpers import FakeGateway, http, indicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from cloud_stub.banks import add_bank
from cloud_stub.enrollment import revoke_key
from gateway import wire
from gateway.wire import request as wire_request

PATH = "/v1/enterprise/view"


def get_view(url: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url + PATH, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def signed(gw: FakeGateway, *, key: SigningKey | None = None, path: str = PATH, ts: float | None = None,
           enterprise: str | None = None, gateway: str | None = None, nonce: str | None = None) -> dict[str, str]:
    stmt = wire_request.request_statement(gateway or gw.gateway_id, gw.kid, enterprise or gw.enterprise, "GET", path,
                                          time.time() if ts is None else ts, nonce)
    return wire_request.sign_request(stmt, key or gw.key)


def _findings_chain_with_dispute(receiver: Any, gw: FakeGateway) -> tuple[dict[str, Any], str]:
    """A real finding (the gateway's key signs two different batches 1), then a batch holding a
    dispute of it and a confirmation; returns the finding row and a bank token."""
    assert receiver.post(gw.next(records=[indicator(0)]).envelope())[1]["status"] == "accepted"
    other = gw.make(seq=1, prev=wire.GENESIS_PREV, records=[indicator(0, 9.0)])
    assert receiver.post(other.envelope())[1]["code"] == "equivocation"
    with receiver.rdb.read() as conn:
        fid, fhash = conn.execute("SELECT id, hash FROM findings WHERE kind = 'equivocation'").fetchone()
    recs = [{"type": "dispute", "category": "dispute", "name": "dispute.contest", "subject": "site", "id": 1,
             "made_at": "2026-11-28T00:00:00Z", "window": {"start": 1795910400, "len": 0}, "note": "not us",
             "finding": fhash, "finding_id": fid},
            {"type": "confirmation", "category": "confirmation", "name": "confirmation.measures", "subject": "site",
             "id": 2, "made_at": "2026-11-28T00:00:00Z", "window": {"start": 1795910400, "len": 0}, "note": "",
             "measures": {"consent": None, "policy": None}}]
    assert receiver.post(gw.next(records=recs).envelope())[1]["status"] == "accepted"
    token = add_bank(receiver.rdb, "bank-e", gw.enterprise, "energy")["token"]  # energy only: sees disputes anyway
    return {"id": fid, "hash": fhash}, token


def test_the_gateway_reads_its_enterprise_view_with_its_own_key(receiver, gw):
    finding, bank = _findings_chain_with_dispute(receiver, gw)
    headers = signed(gw)
    status, page = get_view(receiver.url, headers)
    assert status == 200, page
    body = wire.verify_report(page.pop("page_signature"), bytes(receiver.key.verify_key))
    assert body == page and page["kind"] == "enterprise_view" and page["enterprise_id"] == gw.enterprise
    assert page["request_nonce"] == json.loads(wire.unb64(headers[wire_request.HEADER_REQUEST], "x"))["nonce"]
    assert [f["hash"] for f in page["findings"]] == [finding["hash"]] and page["findings"][0]["detail"]
    assert page["score"] is None and isinstance(page["access_log"], list)
    assert all(a["actor_kind"] in ("bank", "operator") for a in page["access_log"])  # who read, not uploads
    assert [d["key"] for d in page["disputes"]] == ["gw-1/1", "gw-1/2"] and page["disputes"][0]["status"] == "open"
    # a replay of the same signed request is refused, even seconds later
    status, out = get_view(receiver.url, headers)
    assert status == 401 and out["code"] == "replayed_request"


def test_every_other_request_is_refused(receiver, gw):
    other = FakeGateway("gw-2", "ent-2")
    receiver.enroll(other)
    cases = [
        ({}, 401, "unauthenticated"),
        (signed(gw, ts=time.time() - 400), 401, "stale_request"),
        (signed(gw, ts=time.time() + 400), 401, "stale_request"),
        (signed(gw, path="/v1/feed/ent-1/records"), 401, "wrong_request"),
        (signed(gw, key=SigningKey.generate()), 401, "bad_signature"),
        (signed(gw, enterprise="ent-2"), 403, "unknown_key"),  # its key, another enterprise
        (signed(gw, gateway="gw-2"), 403, "unknown_key"),  # its key, another gateway's name
        ({**signed(gw), wire_request.HEADER_SIGNATURE: signed(other)[wire_request.HEADER_SIGNATURE]}, 401,
         "bad_signature"),
    ]
    for headers, code, word in cases:
        status, out = get_view(receiver.url, headers)
        assert (status, out["code"]) == (code, word), (headers, out)
    revoke_key(receiver.rdb, gw.kid)
    status, out = get_view(receiver.url, signed(gw))
    assert (status, out["code"]) == (403, "revoked_key")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(req=st.text(max_size=300), sig=st.text(max_size=120), stmt=st.dictionaries(
    st.sampled_from(wire_request.REQUEST_KEYS + ("x",)), st.one_of(st.integers(), st.text(max_size=40), st.none()),
    max_size=9))
def test_hostile_headers_get_a_json_401_or_403_and_nothing_is_stored(receiver, gw, req, sig, stmt):
    before = receiver.stored()
    for headers in ({wire_request.HEADER_REQUEST: req, wire_request.HEADER_SIGNATURE: sig},
                    {wire_request.HEADER_REQUEST: wire.b64(json.dumps(stmt).encode()),
                     wire_request.HEADER_SIGNATURE: wire.b64(bytes(64))}):
        try:
            headers = {k: v.encode("latin-1").decode("latin-1") for k, v in headers.items()}
            status, out = get_view(receiver.url, headers)
        except (UnicodeEncodeError, ValueError, HTTPException):
            continue  # not sendable as an HTTP header at all
        assert status in (401, 403) and out["status"] == "error" and isinstance(out["code"], str), out
    assert receiver.stored() == before


def test_a_bank_decides_a_dispute_once_and_the_decision_is_signed(receiver, gw):
    finding, bank = _findings_chain_with_dispute(receiver, gw)
    status, page = http("GET", f"{receiver.url}/v1/feed/ent-1/disputes", token=bank)
    assert status == 200 and page["bank"] == "bank-e"
    dispute, confirmation = page["items"]
    assert dispute["finding"]["hash"] == finding["hash"] and dispute["finding"]["id"] == finding["id"]
    assert dispute["status"] == "open" and confirmation["status"] == "recorded"
    url = f"{receiver.url}/v1/feed/ent-1/disputes/gw-1/1/decision"
    assert http("POST", url, {"decision": "maybe"}, token=bank)[0] == 400
    assert http("POST", url, {"decision": "rejected", "reason": "  "}, token=bank)[0] == 400
    assert http("POST", f"{receiver.url}/v1/feed/ent-1/disputes/gw-1/2/decision", {"decision": "accepted"},
                token=bank)[0] == 404  # a confirmation is not decided
    assert http("POST", url.replace("ent-1", "ent-2"), {"decision": "accepted"}, token=bank)[0] == 403
    status, out = http("POST", url, {"decision": "accepted", "reason": "log checked"}, token=bank)
    assert status == 200, out
    assert wire.verify_report(out["signature"], bytes(receiver.key.verify_key)) == out["decision"]
    assert http("POST", url, {"decision": "rejected", "reason": "changed my mind"}, token=bank)[1]["code"] \
        == "already_decided"
    page = http("GET", f"{receiver.url}/v1/feed/ent-1/disputes", token=bank)[1]
    assert page["items"][0]["status"] == "accepted" and page["items"][0]["decisions"][0]["reason"] == "log checked"
    # another bank sees the dispute open: its own decision is what it is shown
    other = add_bank(receiver.rdb, "bank-f", "ent-1")["token"]
    assert http("GET", f"{receiver.url}/v1/feed/ent-1/disputes", token=other)[1]["items"][0]["status"] == "open"
    # the enterprise sees every bank's
    status, view = get_view(receiver.url, signed(gw))
    assert [d["bank"] for d in view["disputes"][0]["decisions"]] == ["bank-e"]


def _tampered_views(receiver, gw) -> tuple[dict, dict, dict, Any]:
    """A served disputes page with a decision, the verified records and findings by hash."""
    finding, bank = _findings_chain_with_dispute(receiver, gw)
    url = f"{receiver.url}/v1/feed/ent-1/disputes/gw-1/1/decision"
    assert http("POST", url, {"decision": "rejected", "reason": "it was your key"}, token=bank)[0] == 200
    page = http("GET", f"{receiver.url}/v1/feed/ent-1/disputes", token=bank)[1]
    records = http("GET", f"{receiver.url}/v1/feed/ent-1/records", token=bank)[1]["records"]
    findings = http("GET", f"{receiver.url}/v1/feed/ent-1/findings", token=bank)[1]["items"]
    verified = {r["id"]: r for r in records if r["record"].get("type") in ("dispute", "confirmation")}
    return page, verified, {f["hash"]: f for f in findings}, bank


def _run_checks(page: dict, receiver, verified: dict, findings: dict) -> list[str]:
    from cloud_stub import feed_verify_disputes as fvd

    failures: list[str] = []
    pk = bytes(receiver.key.verify_key)
    items = fvd.check_page(page, pk, "ent-1", failures.append)
    fvd.check_records(items, verified, 0, failures.append)
    fvd.check_findings(items, findings, True, failures.append)
    fvd.check_decisions(items, pk, "ent-1", page.get("bank"), failures.append)
    return failures


def _resign(page: dict, key: SigningKey) -> None:
    page["page_signature"] = wire.sign_report({k: v for k, v in page.items() if k != "page_signature"}, key)


def test_feed_verify_v43_to_v46_pass_as_served_and_catch_a_receiver_that_edits(receiver, gw):
    page, verified, findings, _ = _tampered_views(receiver, gw)
    assert _run_checks(page, receiver, verified, findings) == []

    def note(p):
        p["items"][0]["record"]["note"] = "we accept the finding"

    def swap_finding(p):
        p["items"][0]["finding"]["hash"] = "0" * 64

    def hide_finding(p):
        p["items"][0]["finding"] = None

    def drop(p):
        p["items"].pop(1)

    def other_status(p):
        p["items"][0]["status"] = "accepted"

    def forged_decision(p):
        d = p["items"][0]["decisions"][0]
        d["statement"] = {**d["statement"], "decision": "accepted"}
        d["decision"] = "accepted"
        d["signature"] = wire.sign_report(d["statement"], SigningKey.generate())
        p["items"][0]["status"] = "accepted"

    def other_bank(p):
        p["bank"] = "bank-z"

    for tamper, word in ((note, "record"), (swap_finding, "another finding"), (hide_finding, "shown without"),
                         (drop, "leaves out"), (other_status, "status"), (forged_decision, "not signed"),
                         (other_bank, "another")):
        bad = json.loads(json.dumps(page))
        tamper(bad)
        _resign(bad, receiver.key)  # the receiver re-signs its page: only the checks against signed words catch it
        failures = _run_checks(bad, receiver, verified, findings)
        assert failures and any(word in f for f in failures), (tamper.__name__, failures)
    unsigned = json.loads(json.dumps(page))
    other_status(unsigned)
    assert any("signature" in f for f in _run_checks(unsigned, receiver, verified, findings))  # V43
