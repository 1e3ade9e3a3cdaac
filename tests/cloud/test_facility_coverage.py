"""Facilities, collateral coverage and the portfolio (issue 15 items 1, 2, 6) on replayed histories.

Two generated histories (honest, and collateral_removed: 600 kg of the 1,850 kg pledged stack leave on day 1)
are replayed by the real gateway CLI into a real receiver on SQLite. Two banks serve both enterprises (the
profile's consent names both). The banks set facilities through the API, import price CSVs through the CLI,
and coverage runs on the verified collateral weights: an honest covered facility stays quiet; a falling price
or removed collateral raises the margin-call levels with the numbers; stale prices are flagged with their age;
a bank never sees another bank's facility.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cloud_helpers import http

from cloud_stub import channels, coverage_run, feed_chain, outbox, receiver_key
from cloud_stub.analysis import analyse
from cloud_stub.banks import add_bank
from cloud_stub.cli import cloud
from cloud_stub.db import ReceiverDB
from cloud_stub.http_api import create_app
from cloud_stub.server import Running
from gateway import wire
from gateway.replay.scenarios import ScenarioConfig, write_scenario
from tests.replay.replay_helpers import LiveReceiver, replay_identity, run_replay

ROOT = Path(__file__).resolve().parents[2]
DAYS = 3


@dataclass
class World:
    r: LiveReceiver
    tokens: dict[str, str]
    as_of: int
    last_day: date
    tmp: Path
    db: str  # what --db takes: the SQLite file or the PostgreSQL URL

    def get(self, bank: str, path: str) -> tuple[int, Any]:
        return http("GET", f"{self.r.url}{path}", token=self.tokens[bank])

    def put(self, bank: str, fid: str, doc: Any) -> tuple[int, Any]:
        return http("PUT", f"{self.r.url}/v1/facilities/{fid}", doc, token=self.tokens[bank])

    def prices(self, bank: str, rows: list[tuple[str, str, float]], name: str = "prices.csv") -> dict[str, Any]:
        p = self.tmp / f"{bank}-{name}"
        p.write_text("day,product_class,price,currency,unit\n"
                     + "".join(f"{d},{c},{v},CNY,kg\n" for d, c, v in rows), encoding="utf-8")
        res = CliRunner().invoke(cloud, ["price", "import", "--db", self.db, "--bank", bank,
                                         "--file", str(p)])
        assert res.exit_code == 0, res.output
        return res.output


def _profile(tmp: Path) -> Path:
    """sim-history whose consent also names bank-b (two banks serving one enterprise)."""
    text = (ROOT / "hardware_profiles" / "sim-history.toml").read_text(encoding="utf-8")
    extra = ('[[consent.grants]]\nto = "bank-b"\nreceiver = "*"\ncategories = ["energy", "machine", "env", "water",'
             ' "gas", "collateral", "vision", "data_quality", "mes", "erp"]\nuntil = 2030-12-31T00:00:00Z\n\n')
    p = tmp / "sim-history-2banks.toml"
    p.write_text(text.replace("[privacy]\n", extra + "[privacy]\n", 1), encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def world_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    """The receiver's store: SQLite here (test_facility_coverage_postgres.py binds PostgreSQL)."""
    path = tmp_path_factory.mktemp("facility-store") / "receiver.db"
    return str(path), ReceiverDB(path)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, world_store: tuple[str, Any]) -> World:
    tmp = tmp_path_factory.mktemp("facility-coverage")
    (tmp / "receiver").mkdir()
    db, rdb = world_store
    key = receiver_key.load_or_create(tmp / "receiver" / "receiver.key")
    r = LiveReceiver("", rdb, key, Running(create_app(rdb, key)))
    r.url = r.running.url
    profile = str(_profile(tmp))
    meta: dict[str, Any] = {}
    for name, ent in (("honest", "ent-hon"), ("collateral_removed", "ent-rem")):
        data = tmp / name / "data"
        meta = write_scenario(ScenarioConfig(scenario=name, days=DAYS, seed=1, interval_s=300, onset_day=1), data)
        replay_identity(r, tmp / name / "state", ent, f"gw-{ent}", profile=profile)
        run_replay(r, tmp / name / "state", data, profile=profile)
    tokens = {}
    for bank in ("bank-demo", "bank-b"):
        for ent in ("ent-hon", "ent-rem"):
            tokens[bank] = add_bank(r.rdb, bank, ent)["token"]
    last = date.fromisoformat(meta["end"])
    # As of midnight UTC after the last replayed day (the history ends at local midnight, UTC+8: 16:00 UTC before).
    as_of = int(datetime(last.year, last.month, last.day, tzinfo=UTC).timestamp()) + 86400
    # alert channels before any alert: the operator's and each bank's (nothing is delivered in these tests)
    channels.add(r.rdb, "ops", "webhook", {"url": "http://127.0.0.1:9/ops"})
    for bank in ("bank-demo", "bank-b"):
        channels.add(r.rdb, f"ch-{bank}", "webhook", {"url": f"http://127.0.0.1:9/{bank}"}, bank_id=bank)
    for ent in ("ent-hon", "ent-rem"):  # the authenticity score the portfolio shows beside the coverage
        analyse(r.rdb, ent, as_of=as_of // 3600 * 3600, days=DAYS + 1, signing_key=r.key)
    yield World(r, tokens, as_of, last, tmp, db)
    r.stop()


def facility(ent: str, drawn: float, **cov: Any) -> dict[str, Any]:
    return {"enterprise_id": ent, "amount": 200000, "drawn": drawn, "currency": "CNY",
            "term_start": "2026-09-01", "term_end": "2027-08-31",
            "covenants": {"max_price_age_days": 3, **cov},
            "pledges": [{"subject": "pallet-stack-1", "product_class": "copper-rod", "price_source": "csv"}]}


def run(world: World, bank: str, as_of: int | None = None) -> dict[str, dict[str, Any]]:
    out = coverage_run.run_bank(world.r.rdb, bank, as_of or world.as_of)
    return {a["facility_id"]: {**a, "_alerts": [x for x in out["alerts"] if x["detail"]["facility_id"]
                                                == a["facility_id"]]} for a in out["facilities"]}


def findings(world: World, ent: str) -> list[dict[str, Any]]:
    with world.r.rdb.read() as conn:
        return [{"severity": s, "detail": json.loads(d), "prev": p, "hash": h}
                for s, d, p, h in conn.execute("SELECT severity, detail, prev, hash FROM bank_findings WHERE"
                                               " enterprise_id = ? AND kind = 'collateral_coverage' ORDER BY id",
                                               (ent,))]


def test_honest_covered_facility_stays_quiet_then_a_falling_price_raises_the_levels(world: World):
    d = world.last_day.isoformat()
    world.prices("bank-demo", [(d, "copper-rod", 60.0)])
    st, fac = world.put("bank-demo", "loan-hon-1", facility("ent-hon", 70000))
    assert st == 200, fac
    a = run(world, "bank-demo")["loan-hon-1"]
    # 1,850 kg pledged x 60 CNY/kg = ~111,000 CNY over 70,000 drawn: ~1.59, above the 1.3 yellow line
    assert a["level"] == "ok" and 1.5 < a["coverage"] < 1.65, a
    assert a["value_range"] == [100000.0, 500000.0] and a["flags"] == [] and a["_alerts"] == []
    assert findings(world, "ent-hon") == []
    # The price falls to 45: 1,850 x 45 = ~83,000 -> 1.19: yellow (below 1.3, above 1.15)
    world.prices("bank-demo", [(d, "copper-rod", 45.0)])
    a = run(world, "bank-demo")["loan-hon-1"]
    assert a["level"] == "yellow" and 1.15 < a["coverage"] < 1.3
    (al,) = a["_alerts"]
    assert al["kind"] == "margin_call" and al["level"] == "yellow"
    assert al["detail"]["coverage"] == a["coverage"] and al["detail"]["outstanding"] == 70000
    assert al["detail"]["thresholds"] == {"yellow": 1.3, "orange": 1.15, "red": 1.0}
    assert "below the yellow line 1.3x" in al["detail"]["message"]
    # The same level on the next run: raised once
    assert run(world, "bank-demo")["loan-hon-1"]["_alerts"] == []
    # 35 CNY/kg: ~64,700 -> 0.92 < 1.0: red, with the numbers
    world.prices("bank-demo", [(d, "copper-rod", 35.0)])
    a = run(world, "bank-demo")["loan-hon-1"]
    assert a["level"] == "red" and a["coverage"] < 1.0
    assert [x["level"] for x in a["_alerts"]] == ["red"]
    f = findings(world, "ent-hon")
    assert [x["severity"] for x in f] == ["yellow", "red"]
    red = f[-1]["detail"]
    assert red["rule"] == "collateral_coverage" and red["version"] == 1 and red["direction"] == "below"
    assert red["compared"]["coverage"] == a["coverage"] and red["threshold"]["red"] == 1.0
    assert red["indicators"] == ["collateral.weight_kg"] and red["extra"]["bank"] == "bank-demo"
    # chained in the bank's private chain (cloud_stub/bank_chain.py), never in the enterprise's
    assert f[1]["prev"] == f[0]["hash"]
    assert feed_chain.entry_hash  # the bank's check of the chain runs in feed verify (V52)
    with world.r.rdb.read() as conn:
        assert conn.execute("SELECT count(*) FROM findings WHERE kind = 'collateral_coverage'").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM alerts WHERE kind = 'margin_call'").fetchone()[0] == 0


def test_removed_collateral_raises_orange_and_names_the_weight(world: World):
    d = world.last_day.isoformat()
    d0 = (world.last_day - timedelta(days=DAYS - 1)).isoformat()
    world.prices("bank-demo", [(d0, "steel-coil", 60.0), (d, "steel-coil", 60.0)])
    doc = facility("ent-rem", 70000)
    doc["pledges"][0]["product_class"] = "steel-coil"
    assert world.put("bank-demo", "loan-rem-1", doc)[0] == 200
    # Before the removal (end of day 0) the stack weighed ~1,850 kg: ~1.59, ok
    day0_end = world.as_of - 2 * 86400
    assert run(world, "bank-demo", day0_end)["loan-rem-1"]["level"] == "ok"
    a = run(world, "bank-demo")["loan-rem-1"]
    qty = a["pledges"][0]["quantity"]
    assert 1150 < qty < 1350, a  # 1,850 - 600 kg
    # ~1,250 x 60 = ~75,000 over 70,000: ~1.07: orange (below 1.15, above 1.0)
    assert a["level"] == "orange" and 1.0 < a["coverage"] < 1.15, a
    assert [x["level"] for x in a["_alerts"]] == ["orange"]


def test_missing_price_or_weight_is_not_observed_never_zero(world: World):
    doc = facility("ent-hon", 50000)
    doc["pledges"].append({"subject": "no-such-stack", "product_class": "copper-rod"})
    assert world.put("bank-demo", "loan-hon-2", doc)[0] == 200
    doc3 = facility("ent-hon", 50000)
    doc3["pledges"][0]["product_class"] = "unpriced-class"
    assert world.put("bank-demo", "loan-hon-3", doc3)[0] == 200
    out = run(world, "bank-demo")
    for fid, missing in (("loan-hon-2", ["quantity"]), ("loan-hon-3", ["price"])):
        a = out[fid]
        assert a["coverage"] is None and a["value_range"] is None and a["level"] == "not_observed", a
        assert "no_data" in a["flags"] and a["observed"]["observed"] < a["observed"]["pledges"]
        assert [p["missing"] for p in a["pledges"] if p["missing"]] == [missing]
        assert a["_alerts"] == []
    assert world.get("bank-demo", "/v1/facilities/loan-hon-2")[0] == 405  # no such route: list or feed page
    assert http("DELETE", f"{world.r.url}/v1/facilities/loan-hon-2", token=world.tokens["bank-demo"])[0] == 200
    assert http("DELETE", f"{world.r.url}/v1/facilities/loan-hon-3", token=world.tokens["bank-demo"])[0] == 200


def test_stale_prices_are_flagged_with_their_age(world: World):
    old = (world.last_day - timedelta(days=6)).isoformat()
    # bank-b sends its prices through its API (one bad point: nothing stored, the point and column named)
    url = f"{world.r.url}/v1/prices"
    good = {"day": old, "product_class": "alu-ingot", "price": 80.0, "currency": "CNY", "unit": "kg"}
    st, body = http("POST", url, {"prices": [good, {**good, "price": 0}]}, token=world.tokens["bank-b"])
    assert st == 400 and "$.prices[1]: column price" in body["message"]
    assert http("POST", url, {"prices": [good]})[0] == 401
    with world.r.rdb.read() as conn:
        assert conn.execute("SELECT count(*) FROM price_points WHERE bank_id = 'bank-b'").fetchone()[0] == 0
    st, body = http("POST", url, {"prices": [good]}, token=world.tokens["bank-b"])
    assert st == 200 and body["imported"] == 1 and body["source"] == "api:bank"
    doc = facility("ent-hon", 60000)
    doc["pledges"][0]["product_class"] = "alu-ingot"
    assert world.put("bank-b", "b-loan-1", doc)[0] == 200
    a = run(world, "bank-b")["b-loan-1"]
    assert "stale_price" in a["flags"] and a["coverage"] is not None
    assert a["stale_prices"] == [{"product_class": "alu-ingot", "price_day": old, "age_days": 7}]
    stale = [f for f in findings(world, "ent-hon") if f["detail"]["direction"] == "stale"]
    assert stale and "7 days old" in stale[-1]["detail"]["message"] and stale[-1]["severity"] == "info"


def test_a_bank_never_sees_another_banks_facility(world: World):
    # bank-b: the facilities of bank-demo are not in its list, its feed page nor its portfolio
    st, page = world.get("bank-b", "/v1/facilities")
    assert st == 200 and {f["facility_id"] for f in page["items"]} <= {"b-loan-1"}
    assert all(f["bank"] == "bank-b" for f in page["items"])
    st, page = world.get("bank-b", "/v1/feed/ent-hon/facilities")
    assert st == 200 and all(f["bank"] == "bank-b" for f in page["items"])
    # nor can it change or remove one (404: the same as an unknown id)
    assert http("DELETE", f"{world.r.url}/v1/facilities/loan-hon-1", token=world.tokens["bank-b"])[0] == 404
    st, _ = world.put("bank-b", "loan-hon-1", facility("ent-hon", 1))  # its own id space: a new facility of bank-b
    assert st == 200
    assert http("DELETE", f"{world.r.url}/v1/facilities/loan-hon-1", token=world.tokens["bank-b"])[0] == 200
    _, mine = world.get("bank-demo", "/v1/facilities")
    assert next(f for f in mine["items"] if f["facility_id"] == "loan-hon-1")["drawn"] == 70000  # untouched
    # bank-demo's margin-call findings and alerts are in its private chains: bank-b sees nothing of them, not
    # even withheld items, in the enterprise's findings and alerts feeds nor in its own private chains
    _, fpage = world.get("bank-b", "/v1/feed/ent-hon/findings?limit=1000")
    assert not [i for i in fpage["items"] if i["kind"] in ("collateral_coverage", "repay_covenants")]
    _, apage = world.get("bank-b", "/v1/feed/ent-hon/alerts?limit=1000")
    assert not [i for i in apage["items"] if i["kind"] == "margin_call"]
    _, bpage = world.get("bank-b", "/v1/feed/ent-hon/bank-findings?limit=1000")
    assert bpage["bank"] == "bank-b" and all(i["bank"] == "bank-b" for i in bpage["items"])
    assert "loan-hon-1" not in json.dumps(bpage)
    _, apage = world.get("bank-demo", "/v1/feed/ent-hon/bank-alerts?limit=1000")
    assert [i["level"] for i in apage["items"] if i["kind"] == "margin_call"] == ["yellow", "red"]
    # margin-call alerts are queued for the operator's channel and bank-demo's, never bank-b's
    outbox.enqueue_new(world.r.rdb)
    with world.r.rdb.read() as conn:
        queued = conn.execute("SELECT c.name, a.level FROM alert_outbox o JOIN bank_alerts a ON a.id = -o.alert_id"
                              " JOIN alert_channels c ON c.id = o.channel_id WHERE a.kind = 'margin_call'"
                              " AND a.enterprise_id = 'ent-hon' ORDER BY c.name, a.id").fetchall()
    assert [tuple(q) for q in queued] == [("ch-bank-demo", "yellow"), ("ch-bank-demo", "red"), ("ops", "yellow"),
                                          ("ops", "red")]
    # an enterprise the bank is not served: no facility can be attached (403)
    add_bank(world.r.rdb, "bank-c", "ent-none")
    st, body = http("PUT", f"{world.r.url}/v1/facilities/x1", facility("ent-rem", 1),
                    token=add_bank(world.r.rdb, "bank-c", "ent-none")["token"])
    assert st == 403, body
    # unauthenticated: nothing persists
    assert http("PUT", f"{world.r.url}/v1/facilities/x2", facility("ent-hon", 1))[0] == 401
    with world.r.rdb.read() as conn:
        assert conn.execute("SELECT count(*) FROM facilities WHERE id IN ('x1', 'x2')").fetchone()[0] == 0


def test_bad_facility_documents_name_the_key(world: World):
    st, body = world.put("bank-demo", "bad-1", {**facility("ent-hon", 1), "drawn": "lots"})
    assert st == 400 and "$.drawn" in body["message"]
    st, body = world.put("bank-demo", "bad-1", {**facility("ent-hon", 300000)})
    assert st == 400 and "exceeds $.amount" in body["message"]
    doc = facility("ent-hon", 1, margin_call={"yellow": 1.0, "orange": 1.2, "red": 0.9})
    st, body = world.put("bank-demo", "bad-1", doc)
    assert st == 400 and "margin_call" in body["message"]
    st, body = http("PUT", f"{world.r.url}/v1/facilities/bad-1", b"{not json", token=world.tokens["bank-demo"])
    assert st == 400
    st, body = world.put("bank-demo", "bad%20id!", facility("ent-hon", 1))
    assert st == 400 and "facility id" in body["message"]


def test_signed_pages_and_portfolio(world: World):
    key = world.r.key.verify_key.encode()
    st, page = world.get("bank-demo", "/v1/feed/ent-hon/facilities")
    assert st == 200 and page["kind"] == "facilities" and page["bank"] == "bank-demo"
    signed = wire.verify_report(page["page_signature"], key)
    assert signed == {k: v for k, v in page.items() if k != "page_signature"}
    (f,) = [i for i in page["items"] if i["facility_id"] == "loan-hon-1"]
    assert f["coverage"]["level"] == "red" and f["coverage"]["value_range"] == [50000.0, 100000.0]
    st, p1 = world.get("bank-demo", "/v1/portfolio")
    assert st == 200 and p1["kind"] == "portfolio"
    assert wire.verify_report(p1["page_signature"], key) == {k: v for k, v in p1.items() if k != "page_signature"}
    hon = next(e for e in p1["enterprises"] if e["enterprise_id"] == "ent-hon")
    # the repayment assessment as the latest score report carries it (issue 15 item 3), level and all
    with world.r.rdb.read() as conn:
        (report,) = conn.execute("SELECT report FROM scores WHERE enterprise_id = 'ent-hon' ORDER BY id DESC"
                                 " LIMIT 1").fetchone()
    rep = json.loads(report).get("repayment") or {}
    assert hon["repayment"]["status"] == (rep.get("status") or "not assessed")
    assert hon["repayment"].get("level") == rep.get("level")
    with world.r.rdb.read() as conn:
        sid, score = conn.execute("SELECT id, score FROM scores WHERE enterprise_id = 'ent-hon' ORDER BY id DESC"
                                  " LIMIT 1").fetchone()
    assert hon["authenticity"]["score_id"] == sid and hon["authenticity"]["score"] == score
    assert hon["coverage"]["worst_level"] == "red"
    # bank-b's portfolio before its first run knows nothing earlier: every enterprise is new
    _, pb0 = world.get("bank-b", "/v1/portfolio")
    assert pb0["previous_run_at"] is not None  # bank-b ran once (the stale-price test)
    first = p1["enterprises"][0]  # worst first: a red one leads (ent-hon's coverage, maybe ent-rem's score)
    assert "red" in (first["coverage"]["worst_level"], first["authenticity"]["warning_level"])
    # prices recover; the next run says what changed since the last one
    world.prices("bank-demo", [(world.last_day.isoformat(), "copper-rod", 70.0)])
    assert run(world, "bank-demo")["loan-hon-1"]["level"] == "ok"
    back = findings(world, "ent-hon")[-1]["detail"]
    assert back["direction"] == "recovered" and back["severity"] == "info" and "(was red)" in back["message"]
    _, p2 = world.get("bank-demo", "/v1/portfolio")
    assert p2["previous_run_at"] > p1["previous_run_at"]  # the run above began a new "since"
    again = world.get("bank-demo", "/v1/portfolio")[1]  # reading writes nothing: the same changes again
    assert again["enterprises"] == p2["enterprises"] and again["previous_run_at"] == p2["previous_run_at"]
    hon2 = next(e for e in p2["enterprises"] if e["enterprise_id"] == "ent-hon")
    ch = {c["field"]: c for c in hon2["changes"]}
    assert ch["facility.loan-hon-1.level"]["before"] == "red" and ch["facility.loan-hon-1.level"]["after"] == "ok"
    assert p2["enterprises"][-1]["enterprise_id"] == "ent-hon" or \
        p2["enterprises"][-1]["authenticity"]["warning_level"] in ("yellow", "green")
    # bank-b's portfolio shows only its own facilities
    _, pb = world.get("bank-b", "/v1/portfolio")
    facs = [f["facility_id"] for e in pb["enterprises"] for f in e["coverage"]["facilities"]]
    assert "loan-hon-1" not in facs and "b-loan-1" in facs
    # the CLI: the same portfolio, worst first, as JSON and as a table
    res = CliRunner().invoke(cloud, ["portfolio", "--db", world.db, "--bank", "bank-demo",
                                     "--key", str(world.tmp / "receiver" / "receiver.key")])
    assert res.exit_code == 0 and res.output.splitlines()[1].startswith(p2["enterprises"][0]["enterprise_id"]), \
        res.output


def test_feed_verify_checks_facilities_and_portfolio(world: World):
    """V47-V50: the reference verifier and the document's own code pass on the real pages, and fail on a
    coverage whose level does not follow from its numbers, or a portfolio that is out of order."""
    from test_feed_verify_doc import doc_verifier

    from cloud_stub import feed_verify, feed_verify_facility

    out = feed_verify.verify_all(world.r.url, world.tokens["bank-demo"])
    assert out["failures"] == [] and out["failed"] == 0, out["failures"][:5]
    assert out["portfolio"] == 2
    assert {s["enterprise_id"]: sorted(s["facility_coverage"]) for s in out["enterprises"]} == \
        {"ent-hon": ["loan-hon-1"], "ent-rem": ["loan-rem-1"]}
    # The document's code (docs/wire-format.md §9) on the same pages
    doc = doc_verifier()
    key = world.r.key.verify_key.encode()
    _, ents = world.get("bank-demo", "/v1/feed/enterprises")
    facs = {e: doc["check_facilities"](world.get("bank-demo", f"/v1/feed/{e}/facilities")[1], key, e, "bank-demo")
            for e in ("ent-hon", "ent-rem")}
    latest = {e: world.get("bank-demo", f"/v1/feed/{e}/scores/latest")[1]["item"] for e in ("ent-hon", "ent-rem")}
    _, port = world.get("bank-demo", "/v1/portfolio")
    doc["check_portfolio"](port, key, ents, facs, latest)
    # A receiver that states a level its own numbers contradict, re-signed: V48 says so (both verifiers)
    _, page = world.get("bank-demo", "/v1/feed/ent-rem/facilities")
    bad = {k: v for k, v in page.items() if k != "page_signature"}
    bad["items"] = [{**bad["items"][0], "coverage": {**bad["items"][0]["coverage"], "level": "ok"}}]
    bad["page_signature"] = wire.sign_report({k: v for k, v in bad.items() if k != "page_signature"}, world.r.key)
    fails: list[str] = []
    assert feed_verify_facility.signed_page(bad, key, "facilities", fails.append, enterprise_id="ent-rem",
                                            bank="bank-demo", cursor=None)
    feed_verify_facility.check_facility(bad["items"][0], "ent-rem", "bank-demo", fails.append)
    assert len(fails) == 1 and "does not follow from coverage" in fails[0]
    with pytest.raises(AssertionError, match="V48"):
        doc["check_facilities"](bad, key, "ent-rem", "bank-demo")
    # ... a page signed for another bank: V47
    other = {**{k: v for k, v in page.items() if k != "page_signature"}, "bank": "bank-b"}
    other["page_signature"] = wire.sign_report(other, world.r.key)
    fails = []
    assert not feed_verify_facility.signed_page(other, key, "facilities", fails.append, enterprise_id="ent-rem",
                                                bank="bank-demo", cursor=None)
    # ... a portfolio best first, re-signed: V50; one leaving out an enterprise: V49
    swapped = {k: v for k, v in port.items() if k != "page_signature"}
    swapped["enterprises"] = list(reversed(swapped["enterprises"]))
    swapped["page_signature"] = wire.sign_report({k: v for k, v in swapped.items() if k != "page_signature"},
                                                 world.r.key)
    with pytest.raises(AssertionError, match="V50"):
        doc["check_portfolio"](swapped, key, ents, facs, latest)
    fails = []
    feed_verify_facility.check_portfolio_numbers(swapped, {}, {}, fails.append)
    assert fails == ["portfolio: not ordered worst first"]
    fails = []
    feed_verify_facility.check_portfolio_entries({"enterprises": port["enterprises"][:1]}, ["ent-hon", "ent-rem"],
                                                 fails.append)
    assert fails and "ent-rem" in fails[0]


def test_no_coverage_without_the_grant_of_the_collateral_data(world: World):
    """Coverage is made of collateral indicators: a bank granted other categories only, or whose grant
    ended, gets no coverage computed (and so no finding or alert)."""
    from cloud_stub.banks import revoke_grant

    doc = facility("ent-rem", 10000)
    assert world.put("bank-b", "b-rem-1", doc)[0] == 200
    world.tokens["bank-b"] = add_bank(world.r.rdb, "bank-b", "ent-rem", "energy,machine")["token"]
    out = coverage_run.run_bank(world.r.rdb, "bank-b", world.as_of, "ent-rem")
    assert out["facilities"] == [] and out["alerts"] == []
    assert out["skipped"] == [{"facility_id": "b-rem-1", "enterprise_id": "ent-rem",
                               "reason": "the bank is not granted the categories ['collateral']"}]
    revoke_grant(world.r.rdb, "bank-b", "ent-rem")
    (skip,) = coverage_run.run_bank(world.r.rdb, "bank-b", world.as_of, "ent-rem")["skipped"]
    assert "does not serve this bank" in skip["reason"]
    with world.r.rdb.read() as conn:
        assert conn.execute("SELECT count(*) FROM facility_coverage WHERE facility_id = 'b-rem-1'").fetchone()[0] == 0


def test_the_enterprise_view_never_carries_a_banks_facility(world: World):
    """The gateway's signed fetch of its enterprise view carries no coverage finding at all: facilities and
    what they give are the bank's data (its private chain), never sent to the gateway."""
    from tests.replay.replay_helpers import edgeproof

    proc = edgeproof("view", "--state", str(world.tmp / "honest" / "state"), "--profile",
                     str(world.tmp / "sim-history-2banks.toml"), "--fetch", "--json")
    doc = json.loads(proc.stdout)
    assert "loan-hon-1" not in proc.stdout and "70000" not in proc.stdout
    view = doc.get("view", doc)
    assert not [f for f in view["findings"] if f["kind"] in ("collateral_coverage", "repay_covenants")]


def test_operator_cli_runs_every_bank_and_lists_facilities(world: World):
    cli = CliRunner().invoke
    res = cli(cloud, ["coverage", "run", "--db", world.db, "--all-banks", "--as-of", str(world.as_of)])
    assert res.exit_code == 0, res.output
    assert "bank-demo  loan-hon-1  ent-hon  coverage " in res.output and "bank-b: " in res.output
    assert "skipped: the enterprise does not serve this bank" in res.output  # bank-b's grant of ent-rem ended
    res = cli(cloud, ["coverage", "run", "--db", world.db, "--all-banks", "--bank", "bank-b"])
    assert res.exit_code == 2 and "one of them" in res.output
    res = cli(cloud, ["facility", "list", "--db", world.db, "--bank", "bank-demo", "--json"])
    listed = json.loads(res.output)
    assert res.exit_code == 0 and {f["facility_id"] for f in listed["facilities"]} == {"loan-hon-1", "loan-rem-1"}
    (p := world.tmp / "f.json").write_text(json.dumps({**facility("ent-hon", 5), "drawn": -1}), encoding="utf-8")
    res = cli(cloud, ["facility", "add", "--db", world.db, "--bank", "bank-demo", "loan-x", "--file", str(p)])
    assert res.exit_code == 1 and "$.drawn" in res.output and str(p) in res.output and "Traceback" not in res.output
