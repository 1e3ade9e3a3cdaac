"""The repayment assessment in the score report: next to the authenticity score, signed, reproducible
by `cloud rescore` and `feed rescore` (outside records included, cited by digest), "not assessed" without
ERP data, and old reports without it still rescore identically. Outside records enter through
`cloud outside import` (signed sources verified). Real receiver, real ingest, real CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from cloud_helpers import FakeGateway, pin_of
from nacl.signing import SigningKey
from repayment_helpers import DAY, ErpFactory
from rule_inputs_helpers import DAY0

from cloud_stub.analysis import analyse, verify_score
from cloud_stub.banks import add_bank
from cloud_stub.cli import cloud
from cloud_stub.feed_rescore import rescore
from cloud_stub.outside import records as outside_records
from cloud_stub.outside.adapters import FileDrop
from cloud_stub.outside.store import import_records
from gateway import wire

DAYS = 42
AS_OF = DAY0 + DAYS * DAY


def deliver(receiver: Any, factory: ErpFactory, enterprise: str = "ent-1") -> None:
    gw = FakeGateway(f"gw-{enterprise}", enterprise)
    receiver.enroll(gw)
    recs = factory.records()
    by_cat: dict[str, list[dict[str, Any]]] = {}
    for r in recs:
        by_cat.setdefault(r["category"], []).append(r)
    for cat in sorted(by_cat):
        items = by_cat[cat]
        for i in range(0, len(items), 400):
            assert receiver.post(gw.next(records=items[i:i + 400]).envelope())[1]["status"] == "accepted"


def write_records(path: Path, recs: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in recs) + "\n", encoding="utf-8")
    return path


def outside_import(receiver: Any, source: str, file: Path) -> Any:
    return CliRunner().invoke(cloud, ["outside", "import", "--db", str(receiver.db_path), "--source", source,
                                      str(file), "--retrieved", "2026-10-13T08:00:00Z"])


def test_report_carries_the_repayment_assessment_and_rescores(receiver, tmp_path: Path) -> None:
    deliver(receiver, ErpFactory(ar=lambda d: 1.0 + 0.03 * max(0, d - 14)))
    pen = {"kind": "penalty", "enterprise_id": "ent-1", "date": "2026-09-20",
           "data": {"authority": "市场监督管理局", "amount": 150000, "reason": "环保"}}
    # Through the adapter and store the CLI uses (the CLI itself: the last test), so this runs on PostgreSQL too.
    file = write_records(tmp_path / "p.jsonl", [pen])
    recs = [(w, outside_records.parse(raw, w, "penalties-gov")) for w, raw in FileDrop("penalties-gov", file).fetch()]
    digest = import_records(receiver.rdb, recs, "2026-10-13T08:00:00Z")["sha256"][0]
    report = analyse(receiver.rdb, "ent-1", as_of=AS_OF, days=DAYS, signing_key=receiver.key)
    rep = report["repayment"]
    # Next to the authenticity score, never merged into it.
    assert rep["status"] == "assessed" and isinstance(rep["score"], float)
    assert "repayment_capacity" not in report["subscores"]
    assert not any(f["rule"].startswith("repay_") for f in report["findings"])
    rules = {f["rule"]: f for f in rep["findings"]}
    assert rules["repay_receivables_growth"]["severity"] == "red"
    assert rules["repay_outside_adverse"]["compared"]["records"][0]["sha256"] == digest
    codes = [r["code"] for r in rep["reasons"]]
    assert codes[:2] == ["RC01", "RC08"] and rep["reasons"][0]["numbers"]["gap_pp"] > 80
    assert rep["basis"]["outside"][0]["sha256"] == digest and rep["basis"]["max_outside_id"] == 1
    assert rep["forecasts"]["production"]["assessed"] and rep["cash_flow"]["assessed"]
    assert rep["open_orders"]["assessed"] is False  # this ERP sends no due dates: not observed, never a zero
    assert "no open orders by due date" in rep["open_orders"]["reason"]
    assert rep["coverage"]["not_observed"] == ["repay_concentration", "repay_dso_trend", "repay_order_due",
                                               "repay_outside_news", "repay_outside_registry"]
    # Signed with the rest, reproducible by the receiver...
    with receiver.rdb.read() as conn:
        sid = conn.execute("SELECT max(id) FROM scores").fetchone()[0]
    assert verify_score(receiver.rdb, sid, public_key=bytes(receiver.key.verify_key))["reproducible"]
    # ... and by a bank from the feed and the outside records the report states.
    token = add_bank(receiver.rdb, "bank-all", "ent-1")["token"]
    out = rescore(receiver.url, "ent-1", token, pin_of(receiver))
    assert out["ok"], out["problems"]
    # A record changed in the receiver's database after the fact: the rescore says where.
    with receiver.rdb.write() as conn:
        conn.execute("UPDATE outside_records SET content = replace(content, '150000', '15000')")
    res = verify_score(receiver.rdb, sid)
    assert not res["reproducible"] and any("repayment" in p for p in res["problems"])


def test_without_erp_data_repayment_is_not_assessed(receiver) -> None:
    deliver(receiver, ErpFactory(with_orders=False, with_receivables=False))
    rep = analyse(receiver.rdb, "ent-1", as_of=AS_OF, days=DAYS, signing_key=receiver.key)["repayment"]
    assert rep["status"] == "not_assessed" and rep["score"] is None and rep["grade"] == "not_assessed"
    cov = rep["coverage"]
    # Only the forecast rule had its input (MES output): no ERP figures, so no assessment, never a zero.
    assert cov["indicator_rules_observed"] == 1 and "repay_receivables_growth" in cov["not_observed"]
    assert rep["cash_flow"] == {"assessed": False, "reason": "no day with every erp.receivables_ageing_amount "
                                                             "bucket observed"}


def test_a_report_made_before_the_repayment_assessment_rescores_identically(receiver) -> None:
    deliver(receiver, ErpFactory())
    report = analyse(receiver.rdb, "ent-1", as_of=AS_OF, days=DAYS, signing_key=receiver.key)
    old = {k: v for k, v in report.items() if k != "repayment"}
    with receiver.rdb.write() as conn:
        sid = conn.execute("SELECT max(id) FROM scores").fetchone()[0]
        conn.execute("UPDATE scores SET report = ?, signature = ? WHERE id = ?",
                     (wire.canonical_json(old).decode(), json.dumps(wire.sign_report(old, receiver.key)), sid))
    res = verify_score(receiver.rdb, sid, public_key=bytes(receiver.key.verify_key))
    assert res["reproducible"], res["problems"]


def test_outside_import_checks_records_and_signatures(receiver, tmp_path: Path) -> None:
    deliver(receiver, ErpFactory(days=3))
    key = SigningKey.generate()
    add = CliRunner().invoke(cloud, ["outside", "source", "add", "--db", str(receiver.db_path), "news-wire",
                                     "--public-key", wire.b64(bytes(key.verify_key))])
    assert add.exit_code == 0, add.output
    item = {"source": "news-wire", "kind": "news", "enterprise_id": "ent-1", "date": "2026-09-30",
            "data": {"sentiment": -0.7, "headline": "供应商起诉"}}
    unsigned = write_records(tmp_path / "u.jsonl", [item])
    got = outside_import(receiver, "news-wire", unsigned)
    assert got.exit_code == 2 and "signature: expected an Ed25519 signature" in got.output
    forged = write_records(tmp_path / "f.jsonl",
                           [{**item, "signature": outside_records.sign(item, SigningKey.generate())}])
    assert "a valid signature by the source's key" in outside_import(receiver, "news-wire", forged).output
    good = write_records(tmp_path / "g.jsonl", [{**item, "signature": outside_records.sign(item, key)}])
    ok = outside_import(receiver, "news-wire", good)
    assert ok.exit_code == 0 and json.loads(ok.output)["stored"] == 1
    again = outside_import(receiver, "news-wire", good)
    assert json.loads(again.output) | {"sha256": []} == {**json.loads(again.output), "stored": 0, "duplicates": 1,
                                                          "sha256": []}
    bad = write_records(tmp_path / "b.jsonl", [item, {**item, "kind": "gossip"}])
    got = outside_import(receiver, "news-wire", bad)
    assert got.exit_code == 2 and "b.jsonl line 2: kind: expected one of registry, penalty" in got.output
    listed = CliRunner().invoke(cloud, ["outside", "list", "--db", str(receiver.db_path), "--enterprise", "ent-1",
                                        "--json"])
    items = json.loads(listed.output)
    assert len(items) == 1 and items[0]["signature_verified"] is True
    assert items[0]["retrieved"] == "2026-10-13T08:00:00Z"
