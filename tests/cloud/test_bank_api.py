"""The bank API over real HTTP: grants and categories, every feed endpoint, pagination, signatures, bad input.

Real receiver on loopback, real signed batches (FakeGateway signs with gateway.wire); score, finding and
alert rows are inserted in the exact shape cloud_stub/analysis.py stores them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from click.testing import CliRunner
from cloud_helpers import FakeGateway, http

from cloud_stub import feed_chain, feed_models
from cloud_stub.banks import add_bank, revoke_grant
from cloud_stub.cli import cloud
from cloud_stub.db import iso, utc_now
from gateway import wire

T0 = 1764201600


def ind(name: str, category: str, i: int, value: float, subject: str = "press-1") -> dict[str, Any]:
    return {"type": "indicator", "name": name, "category": category, "subject": subject,
            "window": {"start": T0 + 3600 * i, "len": 3600}, "value": value, "unit": "u", "q": [], "def": 1}


def energy(i: int, value: float = 10.0, subject: str = "press-1") -> dict[str, Any]:
    return ind("energy.kwh", "energy", i, value, subject)


def machine(i: int, value: float = 777.25) -> dict[str, Any]:
    return ind("machine.cycles", "machine", i, value)


# Every bank, every category: the receiver obeys consent (tested in test_consent_enforced.py).
CONSENT = {"type": "consent", "name": "consent.change", "category": "consent", "subject": "site",
           "window": {"start": T0, "len": 0}, "event": "initial", "allowed": ["*"]}


def signed_finding(rule: str, indicators: list[str], severity: str = "red", claimed: float = 4321.5) -> dict[str, Any]:
    """A finding JSON as analysis stores it (Finding.to_json plus its dedupe key)."""
    key = f"press-1:{T0}"
    return {"rule": rule, "version": 1, "severity": severity, "subscore": "production_authenticity", "key": key,
            "window": {"start": T0, "end": T0 + 86400}, "indicators": indicators,
            "compared": {"claimed": claimed, "evidence": 1234.5}, "baseline": None, "statistic": {"ratio": 3.5},
            "threshold": {"ratio": 1.5}, "direction": "claims_exceed_evidence",
            "message": f"claims {claimed} vs 1234.5",
            "dedupe": f"{rule}:v1:{key}"}


def insert_analysis(rdb, key, ent: str, findings: list[dict[str, Any]], score: float = 612.0) -> int:
    """Findings, one score (report signed with the receiver key, as analysis does) and a red alert per red finding."""
    now = iso(utc_now())
    report = {"enterprise_id": ent, "as_of": T0 + 86400, "period": {"start": T0, "end": T0 + 86400},
              "scoring_version": "scorecard-v1", "config_sha256": "c" * 64, "inputs_sha256": "d" * 64,
              "inputs": {"max_record_id": 10, "max_finding_id": 5, "records": 10}, "score": score, "grade": "B",
              "warning_level": "yellow",
              "subscores": {"production_authenticity": {"points": 100.0, "max": 150.0,
                                                        "findings": [f["dedupe"] for f in findings]}},
              "reasons": [{"code": "PA01", "text": "Output claims exceed evidence", "points_lost": 50.0,
                           "findings": [f["dedupe"] for f in findings]}],
              "findings": findings}
    signature = json.dumps(wire.sign_report(report, key), sort_keys=True)
    with rdb.write() as conn:
        for f in findings:  # hash-chained as the analysis stores them (cloud_stub/feed_chain.py)
            item = {"kind": f["rule"], "severity": f["severity"], "enterprise_id": ent, "gateway_id": None,
                    "created": now, "rule_version": 1, "subscore": f["subscore"], "window_start": T0,
                    "window_end": T0 + 86400}
            prev, h = feed_chain.link(conn, "finding", item, f)
            conn.execute(
                "INSERT INTO findings (kind, severity, enterprise_id, gateway_id, detail, created, dedupe,"
                " rule_version, subscore, window_start, window_end, prev, hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (f["rule"], f["severity"], ent, None, wire.canonical_json(f).decode(), now, f"{ent}/{f['dedupe']}",
                 1, f["subscore"], T0, T0 + 86400, prev, h))
        sid = conn.execute(
            "INSERT INTO scores (enterprise_id, as_of, period_start, period_end, scoring_version, config_sha256,"
            " inputs_sha256, max_record_id, max_finding_id, score, grade, warning_level, report, signature, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (ent, report["as_of"], T0, T0 + 86400, "scorecard-v1", "c" * 64, "d" * 64, 10, 5, score, "B", "yellow",
             wire.canonical_json(report).decode(), signature, now)).fetchone()[0]
        for f in findings:
            detail = {"score_id": sid, "finding": f["dedupe"], "rule": f["rule"], "subscore": f["subscore"],
                      "message": f["message"], "window": f["window"]}
            prev, h = feed_chain.link(conn, "alert", {"enterprise_id": ent, "kind": "red_finding", "level": "red",
                                                      "created": now}, detail)
            conn.execute("INSERT INTO alerts (enterprise_id, kind, level, detail, created, dedupe, prev, hash)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (ent, "red_finding", "red", wire.canonical_json(detail).decode(), now,
                          f"{ent}/finding/{f['dedupe']}/{sid}", prev, h))
    return int(sid)


@pytest.fixture
def bank_setup(receiver):
    """ent-1: gw-a with energy, machine, consent-only, an old mixed batch, an empty and a replayed batch;
    ent-2: gw-c. Banks: all (every category of ent-1), energy (energy only of ent-1), other (ent-2)."""
    a, c = FakeGateway("gw-a", "ent-1"), FakeGateway("gw-c", "ent-2")
    for g in (a, c):
        receiver.enroll(g)
    batches = [
        [CONSENT, energy(0), energy(1)],            # seq 1: consent rides with the first category
        [machine(0), machine(1)],                    # seq 2
        [energy(2, subject="press-2"), energy(3)],   # seq 3
        [energy(4), machine(2)],                     # seq 4: an old gateway mixing categories
        [],                                          # seq 5: empty
        [machine(3)],                                # seq 6
    ]
    for recs in batches:
        assert receiver.post(a.next(records=recs).envelope())[1]["status"] == "accepted"
    replayed = a.next(records=[energy(5, 11.5)], replay={"profile": "sim-factory", "source": "csv"})
    assert receiver.post(replayed.envelope())[1]["status"] == "accepted"  # seq 7
    assert receiver.post(c.next(records=[energy(0, 99.0)]).envelope())[1]["status"] == "accepted"
    tokens = {
        "all": add_bank(receiver.rdb, "bank-all", "ent-1")["token"],
        "energy": add_bank(receiver.rdb, "bank-energy", "ent-1", "energy")["token"],
        "other": add_bank(receiver.rdb, "bank-other", "ent-2")["token"],
    }
    receiver.gateways = {"gw-a": a, "gw-c": c}
    return receiver, tokens


def get(receiver, path: str, token: str | None, **q: Any) -> tuple[int, Any]:
    qs = "&".join(f"{k}={v}" for k, v in q.items() if v is not None)
    return http("GET", f"{receiver.url}{path}" + (f"?{qs}" if qs else ""), token=token)


def raw(receiver, path: str, token: str) -> bytes:
    req = urllib.request.Request(f"{receiver.url}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


def check_signed(page: dict[str, Any], receiver) -> None:
    """Whole-page signature: covers exactly the page as served."""
    signed = wire.verify_report(page["page_signature"], bytes(receiver.key.verify_key))
    assert signed == {k: v for k, v in page.items() if k != "page_signature"}


def all_items(receiver, path: str, token: str, limit: int, **q: Any) -> tuple[list[dict[str, Any]], int]:
    items, cursor, pages = [], None, 0
    while True:
        status, page = get(receiver, path, token, limit=limit, cursor=cursor, **q)
        assert status == 200, page
        check_signed(page, receiver)
        assert page["cursor"] == cursor
        pages += 1
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items, pages


def test_enterprises_lists_grants_with_categories(bank_setup):
    receiver, tokens = bank_setup
    add_bank(receiver.rdb, "bank-energy", "ent-2", "machine,energy")  # a second grant; the token rotates
    status, page = get(receiver, "/v1/feed/enterprises", tokens["energy"])
    assert status == 401  # the old token stopped working
    token = add_bank(receiver.rdb, "bank-energy", "ent-3", "energy")["token"]
    status, page = get(receiver, "/v1/feed/enterprises", token)
    assert status == 200
    check_signed(page, receiver)
    feed_models.EnterprisesPage.model_validate(page)
    assert page["bank"] == "bank-energy"
    assert [(e["enterprise_id"], e["categories"]) for e in page["enterprises"]] == [
        ("ent-1", ["energy"]), ("ent-2", ["energy", "machine"]), ("ent-3", ["energy"])]
    revoke_grant(receiver.rdb, "bank-energy", "ent-2")
    assert [e["enterprise_id"] for e in get(receiver, "/v1/feed/enterprises", token)[1]["enterprises"]] == [
        "ent-1", "ent-3"]
    status, page = get(receiver, "/v1/feed/enterprises", tokens["all"])
    assert [(e["enterprise_id"], e["categories"]) for e in page["enterprises"]] == [("ent-1", ["*"])]


def test_records_feed_withholds_batches_outside_the_grant_without_leaking(bank_setup):
    receiver, tokens = bank_setup
    status, full = get(receiver, "/v1/feed/ent-1/records", tokens["all"])
    assert status == 200 and full["withheld"] == []
    assert len(full["records"]) == 3 + 2 + 2 + 2 + 1 + 1 and len(full["batches"]) == 7
    feed_models.RecordsPage.model_validate(full)

    status, page = get(receiver, "/v1/feed/ent-1/records", tokens["energy"])
    assert status == 200
    feed_models.RecordsPage.model_validate(page)
    seqs = sorted(json.loads(wire.unb64(b["body"], "b"))["seq"] for b in page["batches"].values())
    assert seqs == [1, 3, 5, 7]  # energy (with the consent record), empty, replayed energy
    stubs = {s["seq"]: s for s in page["withheld"]}
    assert sorted(stubs) == [2, 4, 6]
    assert stubs[4]["categories"] == ["energy", "machine"] and stubs[4]["record_count"] == 2
    assert stubs[2] == {"hash": stubs[2]["hash"], "gateway_id": "gw-a", "seq": 2, "categories": ["machine"],
                        "record_count": 2, "dropped": None, "kid": stubs[2]["kid"], "prev": stubs[2]["prev"],
                        "head_sig": stubs[2]["head_sig"]}
    # ... and the gateway signed what the stub says (docs/wire-format.md 3a): its head, not its records.
    h1 = next(h for h, b in page["batches"].items() if json.loads(wire.unb64(b["body"], "b"))["seq"] == 1)
    assert stubs[2]["prev"] == h1
    head = {"v": 1, "gateway": "gw-a", "enterprise": "ent-1", "kid": stubs[2]["kid"], "seq": 2,
            "prev": stubs[2]["prev"], "hash": stubs[2]["hash"], "categories": ["machine"], "records": 2,
            "dropped": None}
    keys = {k["kid"]: k["public_key"] for k in get(receiver, "/v1/gateways/gw-a/keys", None)[1]["keys"]}
    wire.verify_head(head, wire.unb64(stubs[2]["head_sig"], "h"), wire.unb64(keys[stubs[2]["kid"]], "k"))
    assert {r["record"]["category"] for r in page["records"]} == {"energy", "consent"}
    # the next batch's signed prev names the withheld one
    by_seq = {json.loads(wire.unb64(b["body"], "b"))["seq"]: json.loads(wire.unb64(b["body"], "b"))
              for b in page["batches"].values()}
    assert by_seq[3]["prev"] == stubs[2]["hash"] and by_seq[5]["prev"] == stubs[4]["hash"]
    # nothing of a machine record anywhere in the bytes served, not even inside a base64 body
    body = raw(receiver, "/v1/feed/ent-1/records", tokens["energy"])
    assert b"777.25" not in body and b"machine.cycles" not in body
    for b in page["batches"].values():
        assert b"machine.cycles" not in wire.unb64(b["body"], "b")
    signed = wire.verify_report(page["page_signature"], bytes(receiver.key.verify_key))
    assert signed["withheld"] == page["withheld"]
    # replayed flag on records
    flags = {r["seq"]: r["replayed"] for r in page["records"]}
    assert flags[7] is True and flags[1] is False


def test_records_pages_with_small_limits_cover_everything_once(bank_setup):
    receiver, tokens = bank_setup
    seen, stubs, cursor = [], {}, None
    while True:
        status, page = get(receiver, "/v1/feed/ent-1/records", tokens["energy"], limit=2, cursor=cursor)
        assert status == 200
        seen += [r["id"] for r in page["records"]]
        stubs |= {s["hash"]: s for s in page["withheld"]}
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 3 + 2 + 1 and len(stubs) == 3


def test_indicators_feed_filters_pages_and_locates_records(bank_setup):
    receiver, tokens = bank_setup
    items, pages = all_items(receiver, "/v1/feed/ent-1/indicators", tokens["all"], 3)
    assert len(items) == 10 and pages == 4
    for it in items:
        feed_models.Indicator.model_validate(it)
    items_e, _ = all_items(receiver, "/v1/feed/ent-1/indicators", tokens["energy"], 2)
    # energy of seq 1, 3, 7; seq 4 mixes machine in, so its energy record is withheld with the batch
    assert [(i["seq"], i["index"]) for i in items_e] == [(1, 1), (1, 2), (3, 0), (3, 1), (7, 0)]
    assert {i["category"] for i in items_e} == {"energy"}
    assert [i["replayed"] for i in items_e] == [False] * 4 + [True]
    records = {r["id"]: r for r in get(receiver, "/v1/feed/ent-1/records", tokens["energy"])[1]["records"]}
    for i in items_e:
        r = records[i["id"]]
        assert (r["batch_hash"], r["index"], r["record"]["value"]) == (i["batch_hash"], i["index"], i["value"])
    sub, _ = all_items(receiver, "/v1/feed/ent-1/indicators", tokens["all"], 50, subject="press-2")
    assert [i["seq"] for i in sub] == [3]
    win, _ = all_items(receiver, "/v1/feed/ent-1/indicators", tokens["energy"], 50,
                       name="energy.kwh", **{"from": T0 + 3600, "to": T0 + 3 * 3600})
    assert [i["window"]["start"] for i in win] == [T0 + 3600, T0 + 2 * 3600]
    none, _ = all_items(receiver, "/v1/feed/ent-1/indicators", tokens["energy"], 50, name="machine.cycles")
    assert none == []


def test_findings_chain_and_rule_findings_with_categories(bank_setup):
    receiver, tokens = bank_setup
    a = receiver.gateways["gw-a"]
    assert receiver.post(a.make(seq=20).envelope())[0] == 409  # gap_observed: a chain finding
    fm = signed_finding("energy_per_unit", ["energy.kwh", "machine.cycles"], claimed=9876.5)
    fe = signed_finding("energy_baseline", ["energy.kwh"], "yellow")
    insert_analysis(receiver.rdb, receiver.key, "ent-1", [fm, fe])
    items, _ = all_items(receiver, "/v1/feed/ent-1/findings", tokens["all"], 1)
    assert [i["kind"] for i in items] == ["gap_observed", "energy_per_unit", "energy_baseline"]
    assert all("detail" in i for i in items) and items[1]["detail"]["compared"]["claimed"] == 9876.5
    assert (items[1]["rule_version"], items[1]["subscore"], items[1]["window_start"]) == (
        1, "production_authenticity", T0)
    items_e, _ = all_items(receiver, "/v1/feed/ent-1/findings", tokens["energy"], 10)
    for i in items_e:
        feed_models.Finding.model_validate(i)
    by_kind = {i["kind"]: i for i in items_e}
    assert by_kind["gap_observed"]["detail"]["expected_seq"] == 8
    assert by_kind["energy_per_unit"]["withheld"] is True and "detail" not in by_kind["energy_per_unit"]
    assert by_kind["energy_baseline"]["detail"]["indicators"] == ["energy.kwh"]
    body = raw(receiver, "/v1/feed/ent-1/findings", tokens["energy"]).decode()
    assert "9876.5" not in body and "machine.cycles" not in body and "4321.5" in body
    # the legacy `after` parameter and `findings` key keep working
    status, page = get(receiver, "/v1/feed/ent-1/findings", tokens["all"], after=items[0]["id"])
    assert status == 200 and [f["kind"] for f in page["findings"]] == ["energy_per_unit", "energy_baseline"]


def test_scores_are_signed_and_redacted_for_a_narrower_grant(bank_setup):
    receiver, tokens = bank_setup
    pk = bytes(receiver.key.verify_key)
    assert get(receiver, "/v1/feed/ent-1/scores/latest", tokens["all"])[0] == 404
    fm = signed_finding("energy_per_unit", ["energy.kwh", "machine.cycles"], claimed=9876.5)
    fe = signed_finding("energy_baseline", ["energy.kwh"], "yellow")
    s1 = insert_analysis(receiver.rdb, receiver.key, "ent-1", [fm, fe], 600.0)
    s2 = insert_analysis(receiver.rdb, receiver.key, "ent-1", [], 650.0)
    items, pages = all_items(receiver, "/v1/feed/ent-1/scores", tokens["all"], 1)
    assert [i["id"] for i in items] == [s1, s2] and pages == 2
    for it in items:
        feed_models.Score.model_validate(it)
        assert wire.verify_report(it["signature"], pk) == it["report"]
    with receiver.rdb.read() as conn:
        stored = json.loads(conn.execute("SELECT signature FROM scores WHERE id = ?", (s1,)).fetchone()[0])
    assert items[0]["signature"] == stored  # the signature made when the score was computed
    status, latest = get(receiver, "/v1/feed/ent-1/scores/latest", tokens["all"])
    assert status == 200 and latest["item"]["id"] == s2 and latest["item"]["score"] == 650.0
    check_signed(latest, receiver)

    items_e, _ = all_items(receiver, "/v1/feed/ent-1/scores", tokens["energy"], 10)
    rep = items_e[0]["report"]
    assert wire.verify_report(items_e[0]["signature"], pk) == rep
    assert (rep["score"], rep["grade"]) == (600.0, "B")  # the score itself is always visible
    assert rep["findings"][0] == {"rule": "energy_per_unit", "version": 1, "severity": "red",
                                  "subscore": "production_authenticity", "key": fm["key"],
                                  "window": fm["window"], "withheld": True}
    assert rep["findings"][1] == fe
    assert rep["redacted"]["withheld_findings"] == [fm["dedupe"]]
    assert rep["redacted"]["original_sha256"] == wire.batch_hash(wire.canonical_json(items[0]["report"]))
    assert items_e[1]["report"] == items[1]["report"]  # nothing to redact: served as computed
    assert "9876.5" not in json.dumps(items_e) and "machine.cycles" not in json.dumps(items_e)


def test_alerts_feed_hides_details_of_ungranted_findings(bank_setup):
    receiver, tokens = bank_setup
    fm = signed_finding("energy_per_unit", ["energy.kwh", "machine.cycles"], claimed=9876.5)
    fe = signed_finding("energy_baseline", ["energy.kwh"])
    insert_analysis(receiver.rdb, receiver.key, "ent-1", [fm, fe])
    assert "9876.5" not in raw(receiver, "/v1/feed/ent-1/alerts", tokens["energy"]).decode()
    items, _ = all_items(receiver, "/v1/feed/ent-1/alerts", tokens["all"], 1)
    assert [i["detail"]["rule"] for i in items] == ["energy_per_unit", "energy_baseline"]
    items_e, _ = all_items(receiver, "/v1/feed/ent-1/alerts", tokens["energy"], 10)
    for i in items_e:
        feed_models.Alert.model_validate(i)
    assert [(i["kind"], i["level"], i.get("withheld")) for i in items_e] == [
        ("red_finding", "red", True), ("red_finding", "red", None)]
    assert "detail" not in items_e[0] and items_e[1]["detail"]["rule"] == "energy_baseline"
    assert get(receiver, "/v1/feed/ent-2/alerts", tokens["other"])[1]["items"] == []


FEEDS = ["records", "indicators", "findings", "scores", "scores/latest", "alerts"]


def test_auth_errors_on_every_endpoint(bank_setup):
    receiver, tokens = bank_setup
    for f in FEEDS:
        path = f"/v1/feed/ent-1/{f}"
        for tok in (None, "bank_unknown", "not-a-bank-token"):
            status, out = get(receiver, path, tok)
            assert (status, out["status"], out["code"]) == (401, "error", "unauthenticated"), (path, tok)
        status, out = get(receiver, f"/v1/feed/ent-2/{f}", tokens["all"])  # another bank's enterprise
        assert (status, out["code"]) == (403, "forbidden"), path
        status, out2 = get(receiver, f"/v1/feed/no-such-ent/{f}", tokens["all"])  # cannot probe
        assert (status, out2) == (403, out), path
    assert get(receiver, "/v1/feed/enterprises", None)[0] == 401
    for header in ("Basic " + tokens["all"], "Bearer", "Bearer  ", tokens["all"]):
        req = urllib.request.Request(f"{receiver.url}/v1/feed/enterprises", headers={"Authorization": header})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 401, header
    req = urllib.request.Request(f"{receiver.url}/v1/feed/enterprises",
                                 headers={"Authorization": "bearer " + tokens["all"]})
    assert json.loads(urllib.request.urlopen(req, timeout=10).read())["bank"] == "bank-all"
    assert get(receiver, "/v1/feed/enterprises", "bank_unknown")[0] == 401
    revoke_grant(receiver.rdb, "bank-all", "ent-1")
    assert all(get(receiver, f"/v1/feed/ent-1/{f}", tokens["all"])[0] == 403 for f in FEEDS)


def test_bad_cursors_limits_and_parameters_are_400(bank_setup):
    receiver, tokens = bank_setup
    t = tokens["all"]
    rec_cursor = get(receiver, "/v1/feed/ent-1/records", t, limit=1)[1]["next_cursor"]
    ind_cursor = get(receiver, "/v1/feed/ent-1/indicators", t, limit=1)[1]["next_cursor"]
    for f in ("records", "indicators", "findings", "scores", "alerts"):
        path = f"/v1/feed/ent-1/{f}"
        for bad in ("garbage!", "cjo", "eDox", "%00"):
            status, out = get(receiver, path, t, cursor=bad)
            assert (status, out["code"]) == (400, "bad_cursor"), (f, bad)
        other = ind_cursor if f == "records" else rec_cursor  # a cursor of another feed
        assert get(receiver, path, t, cursor=other)[1]["code"] == "bad_cursor", f
        for bad in (0, -1, 10**6):
            status, out = get(receiver, path, t, limit=bad)
            assert (status, out["code"]) == (400, "bad_limit"), (f, bad)
        status, out = get(receiver, path, t, limit="ten")
        assert (status, out["code"]) == (400, "bad_request")
    for q in ({"from": "yesterday"}, {"to": "1.5"}, {"from": T0 + 10, "to": T0}):
        status, out = get(receiver, "/v1/feed/ent-1/indicators", t, **q)
        assert status == 400 and out["code"] == "bad_request", q
    assert get(receiver, "/v1/feed/ent-1/findings", t, after=-1)[0] == 400


def test_malformed_and_oversize_bodies_are_refused_and_change_nothing(bank_setup):
    receiver, tokens = bank_setup
    before = receiver.stored()
    with receiver.rdb.read() as conn:
        gateways_before = conn.execute("SELECT * FROM gateway_keys ORDER BY kid").fetchall()
        tokens_before = conn.execute("SELECT * FROM enroll_tokens ORDER BY token_hash").fetchall()
    cases = [
        ("/v1/enroll", b"{not json", "bad_request"),
        ("/v1/enroll", b'["a", "list"]', "bad_request"),
        ("/v1/enroll", b'{"token": "x"}', "bad_request"),
        ("/v1/enroll", b"\xff\xfe", "bad_request"),
        ("/v1/enroll", b'{"token": "' + b"x" * 40_000 + b'"}', "too_large"),
        ("/v1/batches", b"{not json", "bad_envelope"),
        ("/v1/batches", b"x" * (wire.MAX_ENVELOPE_BYTES + 10), "too_large"),
    ]
    for path, data, code in cases:
        status, out = http("POST", f"{receiver.url}{path}", data)
        assert 400 <= status < 500 and out["code"] == code, (path, data[:20], out)
    assert receiver.stored() == before
    with receiver.rdb.read() as conn:
        assert conn.execute("SELECT * FROM gateway_keys ORDER BY kid").fetchall() == gateways_before
        assert conn.execute("SELECT * FROM enroll_tokens ORDER BY token_hash").fetchall() == tokens_before
    # and a well-formed enrollment still works afterwards
    receiver.enroll(FakeGateway("gw-new", "ent-1"))


def test_openapi_documents_every_feed_endpoint(bank_setup):
    receiver, _ = bank_setup
    status, spec = http("GET", f"{receiver.url}/openapi.json")
    assert status == 200
    paths = spec["paths"]
    for f in ["enterprises"] + [f"{{enterprise_id}}/{x}" for x in FEEDS]:
        op = paths[f"/v1/feed/{f}"]["get"]
        assert op["tags"] == ["bank feed"], f
        assert {"200", "400", "401", "403"} <= set(op["responses"]), f
        assert "$ref" in json.dumps(op["responses"]["200"]), f
        assert op["responses"]["403"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorResponse")
    params = {p["name"] for p in paths["/v1/feed/{enterprise_id}/indicators"]["get"]["parameters"]}
    assert {"name", "subject", "from", "to", "cursor", "limit"} <= params
    assert "after" in {p["name"] for p in paths["/v1/feed/{enterprise_id}/findings"]["get"]["parameters"]}
    assert "404" in paths["/v1/feed/{enterprise_id}/scores/latest"]["get"]["responses"]
    assert "requestBody" in paths["/v1/enroll"]["post"]


def test_cli_bank_add_with_categories(tmp_path):
    db = str(tmp_path / "r.db")
    runner = CliRunner()
    res = runner.invoke(cloud, ["bank", "add", "--db", db, "--name", "b1", "--enterprise", "e1",
                                "--categories", "machine, energy", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)  # stdout is the JSON alone; a consent warning goes to stderr
    assert out["categories"] == ["energy", "machine"] and out["token"].startswith("bank_")
    res = runner.invoke(cloud, ["bank", "add", "--db", db, "--name", "b2", "--enterprise", "e1", "--json"])
    assert json.loads(res.stdout)["categories"] == ["*"]
    for bad in ("Energy", "*,energy", "energy;drop", ","):
        res = runner.invoke(cloud, ["bank", "add", "--db", db, "--name", "b3", "--enterprise", "e1",
                                    "--categories", bad])
        assert res.exit_code == 1 and "bad_request" in res.output, bad
    from cloud_stub.db import ReceiverDB

    rdb = ReceiverDB(db)
    try:
        rows = rdb.conn.execute("SELECT bank_id, categories FROM bank_grants ORDER BY bank_id").fetchall()
    finally:
        rdb.close()
    assert rows == [("b1", "energy,machine"), ("b2", "*")]  # the refused b3 left nothing behind
