"""A bank's private chains (issue 15): two banks lend to one enterprise, each sees only its own.

The world of test_facility_coverage (honest and collateral_removed sim-history replays into a real receiver,
two banks serving both enterprises, alert channels for the operator and each bank). Both banks set facilities
on ent-hon; bank-demo's coverage falls to red and its covenants are breached. Its findings and margin-call
alerts go to bank-demo's private chains (cloud_stub/bank_chain.py): bank-b's every page is byte for byte what
it was before (findings, alerts, scores, access log, portfolio, its own private chains, counts). The facilities
page carries each covenant's latest result; feed verify (V51-V54) passes, across --state runs too, and names a
deleted or edited private finding.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import test_facility_coverage
from click.testing import CliRunner
from test_facility_coverage import World, facility

from cloud_stub import coverage_run, feed_verify, outbox
from cloud_stub.cli import feed as feed_cli
from gateway import wire

world, world_store = test_facility_coverage.world, test_facility_coverage.world_store  # its fixtures, rerun here

PAGES = ("findings", "alerts", "scores", "scores/latest", "access-log", "bank-findings", "bank-alerts",
         "facilities", "disputes", "indicators?limit=1")


def seen_by(world: World, bank: str, ent: str) -> dict[str, Any]:
    """Everything the bank is served about the enterprise (and its portfolio), signatures and read times aside."""
    out: dict[str, Any] = {}
    for p in PAGES:
        st, page = world.get(bank, f"/v1/feed/{ent}/{p}")
        assert st == 200, (p, page)
        if p == "access-log":  # the bank's own reads are logged too: compare the others' entries
            page["items"] = [i for i in page["items"] if i["actor_id"] != bank]
            page.pop("head", None)
            page.pop("next_cursor", None)
            page.pop("resume_cursor", None)
        out[p] = {k: v for k, v in page.items() if k != "page_signature"}
    _, port = world.get(bank, "/v1/portfolio")
    out["portfolio"] = [e for e in port["enterprises"] if e["enterprise_id"] == ent]
    _, ents = world.get(bank, "/v1/feed/enterprises")
    out["enterprises"] = {k: v for k, v in ents.items() if k != "page_signature"}
    return out


@pytest.fixture(scope="module")
def two_banks(world: World) -> dict[str, Any]:
    d = world.last_day.isoformat()
    world.prices("bank-b", [(d, "copper-rod", 60.0)])  # ~1.59 covered: quiet
    assert world.put("bank-b", "b-hon-1", facility("ent-hon", 70000, min_coverage=1.2))[0] == 200
    coverage_run.run_bank(world.r.rdb, "bank-b", world.as_of, "ent-hon")
    before = seen_by(world, "bank-b", "ent-hon")
    world.prices("bank-demo", [(d, "copper-rod", 35.0)])  # ~0.92: red, and the covenants breached
    doc = facility("ent-hon", 70000, min_coverage=1.3, max_concentration_pct=5, min_monthly_output=1000)
    assert world.put("bank-demo", "loan-chain-1", doc)[0] == 200
    out = coverage_run.run_bank(world.r.rdb, "bank-demo", world.as_of, "ent-hon")
    mine = {p: world.get("bank-demo", f"/v1/feed/ent-hon/{p}?limit=1000")[1] for p in ("bank-findings", "bank-alerts")}
    return {"before": before, "run": out, "mine": mine}


def test_the_bank_reads_its_findings_and_alerts_in_its_own_signed_chain(world: World, two_banks) -> None:
    key = world.r.key.verify_key.encode()
    fpage, apage = two_banks["mine"]["bank-findings"], two_banks["mine"]["bank-alerts"]
    for page, kind in ((fpage, "bank_findings"), (apage, "bank_alerts")):
        assert wire.verify_report(page["page_signature"], key) == {k: v for k, v in page.items()
                                                                  if k != "page_signature"}
        assert page["kind"] == kind and page["bank"] == "bank-demo" and page["enterprise_id"] == "ent-hon"
        assert all(i["bank"] == "bank-demo" for i in page["items"])
    mine = [i for i in fpage["items"] if i["detail"]["extra"]["facility_id"] == "loan-chain-1"]
    kinds = {(i["kind"], i["severity"]) for i in mine}
    assert ("collateral_coverage", "red") in kinds and ("repay_covenants", "orange") in kinds, kinds
    for a, b in zip(fpage["items"], fpage["items"][1:], strict=False):  # one chain per (enterprise, bank)
        assert b["prev"] == a["hash"]
    # ids are positions in this bank's own chain (1, 2, 3 ...): no gap counts another bank's findings
    for page in (fpage, apage):
        assert [i["id"] for i in page["items"]] == list(range(1, len(page["items"]) + 1))
    assert [i["level"] for i in apage["items"] if i["detail"]["facility_id"] == "loan-chain-1"] == ["red"]
    # paging with cursors as every feed: one item per page, the same items in the same order
    got, cursor = [], None
    while True:
        q = "limit=1" + (f"&cursor={cursor}" if cursor else "")
        st, page = world.get("bank-demo", f"/v1/feed/ent-hon/bank-findings?{q}")
        assert st == 200 and page["cursor"] == cursor
        got += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i["hash"] for i in got] == [i["hash"] for i in fpage["items"]]
    assert world.get("bank-demo", "/v1/feed/ent-hon/bank-findings?cursor=Zjox")[0] == 400  # another feed's cursor
    assert world.get("bank-demo", "/v1/feed/ent-hon/bank-findings?limit=0")[0] == 400
    st, _ = http_unauth(world, "/v1/feed/ent-hon/bank-findings")
    assert st == 401


def http_unauth(world: World, path: str) -> tuple[int, Any]:
    from cloud_helpers import http

    return http("GET", f"{world.r.url}{path}")


def test_another_bank_sees_nothing_of_it(world: World, two_banks) -> None:
    after = seen_by(world, "bank-b", "ent-hon")
    before = two_banks["before"]
    for p in before:
        if p == "portfolio":  # the same entry (its "changes" compare bank-b's own runs)
            assert json.dumps(after[p], sort_keys=True) == json.dumps(before[p], sort_keys=True), p
        elif p == "access-log":
            new = [i for i in after[p]["items"] if i not in before[p]["items"]]
            assert new == [], [(i["path"], i["returned"]) for i in new]
        else:
            assert after[p] == before[p], p
    text = json.dumps(after)
    assert "loan-chain-1" not in text and "bank-demo" not in json.dumps(after["bank-findings"])
    # the enterprise's chains hold nothing of either bank's facilities (no item, no id used, no count)
    with world.r.rdb.read() as conn:
        n = conn.execute("SELECT count(*) FROM findings WHERE kind IN ('collateral_coverage', 'repay_covenants')"
                         ).fetchone()[0]
        m = conn.execute("SELECT count(*) FROM alerts WHERE kind = 'margin_call'").fetchone()[0]
    assert n == m == 0
    # bank-demo's reads of its private pages are in the receiver-wide access log, not the enterprise's
    with world.r.rdb.read() as conn:
        rows = conn.execute("SELECT enterprise_id FROM access_log WHERE path LIKE '%/bank-findings%'").fetchall()
    assert rows and {r[0] for r in rows} == {None}
    # the margin call is queued for the operator and bank-demo, never bank-b
    outbox.enqueue_new(world.r.rdb)
    with world.r.rdb.read() as conn:
        queued = {tuple(r) for r in conn.execute(
            "SELECT c.name, a.level FROM alert_outbox o JOIN bank_alerts a ON a.id = -o.alert_id JOIN alert_channels"
            " c ON c.id = o.channel_id WHERE a.enterprise_id = 'ent-hon' AND a.detail LIKE '%loan-chain-1%'")}
    assert queued == {("ops", "red"), ("ch-bank-demo", "red")}
    # what the bank-demo channel is sent: the private alert, pointing at the private feed
    with world.r.rdb.read() as conn:
        aid = conn.execute("SELECT o.alert_id FROM alert_outbox o JOIN alert_channels c ON c.id = o.channel_id"
                           " WHERE c.name = 'ch-bank-demo' AND o.alert_id < 0 ORDER BY o.id DESC LIMIT 1").fetchone()[0]
        from cloud_stub import channels

        ch = next(c for c in channels.list_channels(conn) if c.name == "ch-bank-demo")
        other = next(c for c in channels.list_channels(conn) if c.name == "ch-bank-b")
    item = outbox._alert_item(world.r.rdb, aid, ch, world.r.key)
    assert item is not None and item["bank"] == "bank-demo" and item["detail"]["facility_id"] == "loan-chain-1"
    assert "/bank-alerts" in outbox.render(item, ch, "k", "kid").text
    assert outbox._alert_item(world.r.rdb, aid, other, world.r.key) is None
    # one delivery attempt per channel: the private alert is sent (the test endpoints refuse: a retry), not
    # cancelled as an alert the channel may not get
    with world.r.rdb.read() as conn:
        rows = [tuple(r) for r in conn.execute("SELECT id, alert_id, channel_id, idem_key, attempts FROM"
                                               " alert_outbox WHERE alert_id = ? ORDER BY id", (aid,))]
    assert len(rows) == 2
    for row in rows:
        assert outbox._deliver_one(world.r.rdb, world.r.key, "kid", outbox.Policy(timeout=1.0), row) == "retry"


def test_the_facilities_page_carries_each_covenants_latest_result(world: World, two_banks) -> None:
    _, page = world.get("bank-demo", "/v1/feed/ent-hon/facilities")
    (f,) = [i for i in page["items"] if i["facility_id"] == "loan-chain-1"]
    res = f["covenant_results"]
    assert res["as_of"] == f["coverage"]["as_of"] == world.as_of
    assert res["basis"]["to"] == world.as_of and res["basis"]["max_record_id"] > 0 and res["basis"]["categories"]
    by = {(r["covenant"], r.get("side")): r for r in res["results"]}
    assert set(by) == {("min_coverage", None), ("min_monthly_output", None), ("max_concentration_pct", "customer"),
                       ("max_concentration_pct", "supplier")}
    cov = by[("min_coverage", None)]
    assert cov["status"] == "breached" and cov["limit"] == 1.3 and abs(cov["observed"] - f["coverage"]["coverage"]) \
        < 0.006 and cov["finding"].startswith("repay_covenants:v1:bank-demo/loan-chain-1/min_coverage/")
    assert by[("min_monthly_output", None)]["status"] == "not_observed"
    assert by[("min_monthly_output", None)]["observed"] is None and by[("min_monthly_output", None)]["finding"] is None
    assert by[("max_concentration_pct", "supplier")]["status"] == "not_observed"
    keys = {i["detail"]["dedupe"] for i in two_banks["mine"]["bank-findings"]["items"]}
    assert all(r["finding"] in keys for r in res["results"] if r["status"] == "breached")
    # bank-b's facility: met, no finding; a facility without covenants: null results
    _, page_b = world.get("bank-b", "/v1/feed/ent-hon/facilities")
    (fb,) = [i for i in page_b["items"] if i["facility_id"] == "b-hon-1"]
    assert [(r["covenant"], r["status"], r["finding"]) for r in fb["covenant_results"]["results"]] == \
        [("min_coverage", "met", None)]
    # the operator's CLI lists them under the facility, as `coverage run` prints them
    from cloud_stub.cli import cloud

    res = CliRunner().invoke(cloud, ["facility", "list", "--db", world.db, "--bank", "bank-demo", "--enterprise",
                                     "ent-hon"])
    assert res.exit_code == 0, res.output
    block = res.output[res.output.index("loan-chain-1"):]
    assert f"covenant min_coverage  limit 1.3  observed {cov['observed']:g}  breached" in block
    assert "covenant min_monthly_output  limit 1000  observed not observed  not observed" in block


def test_feed_verify_checks_the_private_chains_and_covenant_results(world: World, two_banks) -> None:
    from test_feed_verify_doc import doc_verifier

    for bank in ("bank-demo", "bank-b"):
        v = feed_verify.verify_feed(world.r.url, "ent-hon", world.tokens[bank])
        assert v["failures"] == [] and v["failed"] == 0, (bank, v["failures"][:5])
    assert v["bank_findings"] == len(world.get("bank-b", "/v1/feed/ent-hon/bank-findings")[1]["items"])
    # the document's own code (§9, V51-V54) on the same pages
    doc, key = doc_verifier(), world.r.key.verify_key.encode()
    fp, ap = two_banks["mine"]["bank-findings"], two_banks["mine"]["bank-alerts"]
    doc["check_bank_chain"]("bank_finding", [fp], key, "ent-hon", "bank-demo")
    doc["check_bank_chain"]("bank_alert", [ap], key, "ent-hon", "bank-demo")
    _, facs = world.get("bank-demo", "/v1/feed/ent-hon/facilities")
    doc["check_covenant_results"](facs, "bank-demo", fp["items"], ap["items"])
    # a receiver that says "met" for a breached covenant, re-signed: V53 (both verifiers)
    from cloud_stub import feed_verify_bank

    bad = json.loads(json.dumps(facs))
    f = next(i for i in bad["items"] if i["facility_id"] == "loan-chain-1")
    r = next(r for r in f["covenant_results"]["results"] if r["covenant"] == "min_coverage")
    r["status"], r["finding"] = "met", None
    fails: list[str] = []
    feed_verify_bank.check_covenant_terms(f, fails.append)
    assert fails == ["facility loan-chain-1: covenant min_coverage: met with coverage "
                     f"{r['observed']} and minimum 1.3"], fails
    with pytest.raises(AssertionError, match="V53"):
        doc["check_covenant_results"](bad, "bank-demo", fp["items"], ap["items"])
    # ... a breach whose finding the chain does not hold: V54
    chains = feed_verify_bank.BankChains({}, "ent-hon", "bank-demo")
    fails = []
    feed_verify_bank.check_against_chain(next(i for i in facs["items"] if i["facility_id"] == "loan-chain-1"),
                                         "bank-demo", chains, fails.append)
    assert any("is not in the bank's chain (deleted)" in x for x in fails) and \
        any("has no collateral_coverage finding" in x for x in fails), fails


def _as_an_older_receiver_stored_them(world: World, ent: str, bank: str) -> list[str]:
    """Move the bank's private findings and alerts about ``ent`` into the enterprise's chains, written as the
    receiver before the private chains wrote them (dedupe ``<ent>/<key>``, chained with feed_chain.link)."""
    from cloud_stub import bank_chain, feed_chain

    moved = []
    with world.r.rdb.write() as conn:
        for r in conn.execute(f"SELECT {bank_chain.FINDING_COLUMNS} FROM bank_findings WHERE enterprise_id = ? AND"
                              " bank_id = ? ORDER BY id", (ent, bank)).fetchall():
            it = bank_chain.finding_item(r)
            item = {**{k: it[k] for k in feed_chain.FIELDS["finding"] if k in it}, "gateway_id": None}
            prev, h = feed_chain.link(conn, "finding", item, it["detail"])
            conn.execute("INSERT INTO findings (kind, severity, enterprise_id, gateway_id, detail, created, dedupe,"
                         " rule_version, subscore, window_start, window_end, prev, hash) VALUES (?, ?, ?, NULL, ?, ?,"
                         " ?, ?, ?, ?, ?, ?, ?)",
                         (it["kind"], it["severity"], ent, wire.canonical_json(it["detail"]).decode(), it["created"],
                          f"{ent}/{it['detail']['dedupe']}", it["rule_version"], it["subscore"], it["window_start"],
                          it["window_end"], prev, h))
            moved.append(it["detail"]["dedupe"])
        for r in conn.execute(f"SELECT {bank_chain.ALERT_COLUMNS} FROM bank_alerts WHERE enterprise_id = ? AND"
                              " bank_id = ? ORDER BY id", (ent, bank)).fetchall():
            it = bank_chain.alert_item(r)
            item = {k: it[k] for k in feed_chain.FIELDS["alert"]}
            prev, h = feed_chain.link(conn, "alert", item, it["detail"])
            conn.execute("INSERT INTO alerts (enterprise_id, kind, level, detail, created, dedupe, prev, hash) VALUES"
                         " (?, ?, ?, ?, ?, ?, ?, ?)", (ent, it["kind"], it["level"],
                                                       wire.canonical_json(it["detail"]).decode(), it["created"],
                                                       f"{ent}/margin_call/{it['detail']['finding']}", prev, h))
        conn.execute("DELETE FROM bank_findings WHERE enterprise_id = ? AND bank_id = ?", (ent, bank))
        conn.execute("DELETE FROM bank_alerts WHERE enterprise_id = ? AND bank_id = ?", (ent, bank))
    return moved


def test_findings_an_older_receiver_kept_in_the_enterprise_chain_stay_and_count(world: World, two_banks) -> None:
    """Old data: a margin call stored in the enterprise's chains before the private chains existed stays there
    (history is not rewritten); the next run does not raise it again, the bank reads it in the findings feed
    (the others withheld, as before), and feed verify counts it for V54."""
    assert world.put("bank-demo", "loan-old-1", facility("ent-rem", 70000))[0] == 200  # copper rod at 35: red
    coverage_run.run_bank(world.r.rdb, "bank-demo", world.as_of, "ent-rem")
    moved = _as_an_older_receiver_stored_them(world, "ent-rem", "bank-demo")
    assert any(k.startswith("collateral_coverage:v1:bank-demo/loan-old-1/red/") for k in moved), moved
    out = coverage_run.run_bank(world.r.rdb, "bank-demo", world.as_of, "ent-rem")  # the same level: raised once
    assert out["alerts"] == [] and world.get("bank-demo", "/v1/feed/ent-rem/bank-findings")[1]["items"] == []
    _, mine = world.get("bank-demo", "/v1/feed/ent-rem/findings?limit=1000")
    assert {i["detail"]["dedupe"] for i in mine["items"] if i["kind"] == "collateral_coverage"} == set(moved)
    _, theirs = world.get("bank-b", "/v1/feed/ent-rem/findings?limit=1000")
    assert all(i.get("withheld") for i in theirs["items"] if i["kind"] == "collateral_coverage")
    v = feed_verify.verify_feed(world.r.url, "ent-rem", world.tokens["bank-demo"])
    assert v["failures"] == [] and v["failed"] == 0, v["failures"][:5]
    with world.r.rdb.write() as conn:  # without it the red level has no finding: V54 says so
        conn.execute("DELETE FROM findings WHERE enterprise_id = 'ent-rem' AND kind = 'collateral_coverage'")
        conn.execute("DELETE FROM alerts WHERE enterprise_id = 'ent-rem' AND kind = 'margin_call'")
    got = feed_verify.verify_feed(world.r.url, "ent-rem", world.tokens["bank-demo"])["failures"]
    assert any("loan-old-1: coverage level red" in x and "(deleted)" in x for x in got), got


def _verify_cli(world: World, state) -> dict[str, Any]:
    res = CliRunner().invoke(feed_cli, ["verify", "--url", world.r.url, "--enterprise", "ent-hon", "--token",
                                        world.tokens["bank-demo"], "--state", str(state), "--json"])
    return {"exit": res.exit_code, **json.loads(res.output[res.output.index("{"):])}


def test_a_deleted_or_edited_private_finding_is_named_by_feed_verify(world: World, two_banks, tmp_path) -> None:
    """Run after the others (it tampers with the store and puts it back)."""
    state = tmp_path / "state.json"
    first = _verify_cli(world, state)
    assert first["exit"] == 0 and first["failures"] == [], first["failures"][:5]
    kept = json.loads(state.read_text())["enterprises"]["ent-hon"]
    assert kept["bank_finding_tip"] and kept["bank_keys"]
    cols = ("id, seq, bank_id, enterprise_id, kind, severity, detail, created, dedupe, rule_version, subscore,"
            " window_start, window_end, prev, hash")
    with world.r.rdb.read() as conn:
        rows = conn.execute(f"SELECT {cols} FROM bank_findings WHERE enterprise_id = 'ent-hon' AND bank_id ="
                            " 'bank-demo' ORDER BY id").fetchall()
    assert len(rows) >= 3
    mid, last = tuple(rows[1]), tuple(rows[-1])

    def put_back(row: tuple[Any, ...]) -> None:
        with world.r.rdb.write() as conn:
            conn.execute("DELETE FROM bank_findings WHERE id = ?", (row[0],))
            conn.execute(f"INSERT INTO bank_findings ({cols}) VALUES ({', '.join('?' * len(cols.split(',')))})", row)

    def failures() -> list[str]:
        return feed_verify.verify_feed(world.r.url, "ent-hon", world.tokens["bank-demo"])["failures"]

    try:  # a deleted private finding: the next one's prev names the break
        with world.r.rdb.write() as conn:
            conn.execute("DELETE FROM bank_findings WHERE id = ?", (mid[0],))
        got = failures()
        assert any(f"bank_findings chain: bank_finding {rows[2][1]} ({rows[2][4]}): prev is not the hash of the "
                   "bank_finding before it (a bank_finding before it was deleted or edited)" in x for x in got), got
    finally:
        put_back(mid)
    assert failures() == []
    try:  # an edited one (its numbers changed): its hash no longer covers it
        detail = json.loads(mid[6])
        detail["message"] += " (edited)"
        with world.r.rdb.write() as conn:
            conn.execute("UPDATE bank_findings SET detail = ? WHERE id = ?",
                         (wire.canonical_json(detail).decode(), mid[0]))
        got = failures()
        assert f"bank_findings chain: bank_finding {mid[1]} ({mid[4]}): hash does not cover its fields (edited)" \
            in got, got
    finally:
        put_back(mid)
    try:  # across --state runs: the newest one an earlier run verified is deleted
        with world.r.rdb.write() as conn:
            conn.execute("DELETE FROM bank_findings WHERE id = ?", (last[0],))
        again = _verify_cli(world, state)
        assert again["exit"] == 1
        assert any(f"bank_findings: the receiver no longer serves bank finding {last[1]}" in x
                   for x in again["failures"]), again["failures"]
    finally:
        put_back(last)
    clean = _verify_cli(world, state)
    assert clean["exit"] == 0 and clean["failures"] == [], clean["failures"][:5]
