"""A bank recomputes served scores (`feed rescore`) and catches a receiver that edits its own word.

Real receiver on loopback, real database (SQLite here, PostgreSQL in test_feed_rescore_postgres.py),
real ingest of signed batches, real analysis, real `feed verify` / `feed rescore` (the CLI group).
The dishonest receiver is played by editing its database the way an operator could.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from cloud_helpers import FakeGateway, pin_of
from test_analysis import FlagRule

from cloud_stub import feed_verify_state
from cloud_stub.analysis import analyse, verify_score
from cloud_stub.banks import add_bank
from cloud_stub.cli import feed
from cloud_stub.feed_rescore import rescore
from cloud_stub.feed_verify import verify_feed
from cloud_stub.rules import base

T0 = 1764201600  # 2025-11-27 00:00 UTC
DAY = 86400
DAYS = 12
AS_OF = T0 + DAYS * DAY


@pytest.fixture(autouse=True)
def flag_rule() -> Iterator[None]:
    base.register(FlagRule)  # a red finding (and its alert) on the flag day
    yield
    base._REGISTRY.pop(FlagRule.id, None)


def rec(name: str, start: int, length: int, value: float, subject: str = "press-1") -> dict[str, Any]:
    return {"type": "indicator", "name": name, "category": name.split(".")[0], "subject": subject,
            "window": {"start": start, "len": length}, "value": value, "unit": "x", "q": [], "def": 1}


@pytest.fixture
def bank_site(receiver) -> dict[str, Any]:
    """One enterprise, one batch per category per day (as the gateway's batcher packs them), a declared
    gap, a red flag day; banks granted everything and energy+machine; one analysis."""
    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    for d in range(DAYS):
        s = T0 + d * DAY
        per_cat = {
            "energy": [rec("energy.kwh", s + h * 3600, 3600, 40.0 + h % 3) for h in range(24)],
            "machine": [rec("machine.on_minutes", s + h * 3600, 3600, 50.0) for h in range(24)],
            "mes": [rec("mes.produced_qty", s, DAY, 1000.0, "product:abc")],
            "test": [rec("test.flag", s + 3600, 3600, 2.0 if d == 5 else 0.0)],
        }
        for cat in ("energy", "machine", "mes", "test"):
            assert receiver.post(gw.next(records=per_cat[cat]).envelope())[1]["status"] == "accepted"
        if d == 3:
            gw.seq += 2  # two batches lost on site and declared: a gap_declared chain finding
            assert receiver.post(gw.next(records=[], dropped=[gw.seq - 1, gw.seq]).envelope())[1]["status"] \
                == "accepted"
    tokens = {"all": add_bank(receiver.rdb, "bank-all", "ent-1")["token"],
              "em": add_bank(receiver.rdb, "bank-em", "ent-1", "energy,machine")["token"]}
    report = analyse(receiver.rdb, "ent-1", as_of=AS_OF, days=DAYS, signing_key=receiver.key)
    return {"receiver": receiver, "tokens": tokens, "pin": pin_of(receiver), "report": report, "gw": gw}


def cli(site: dict[str, Any], bank: str, *extra: str) -> Any:
    r = site["receiver"]
    return CliRunner().invoke(feed, ["rescore", "--url", r.url, "--enterprise", "ent-1", "--token",
                                     site["tokens"][bank], "--pin-receiver-key", site["pin"], *extra])


def test_the_report_states_what_it_was_computed_from(bank_site) -> None:
    report = bank_site["report"]
    basis = report["basis"]
    assert basis["loader"] == 2 and basis["categories"] is None and len(basis["locators_sha256"]) == 64
    assert [row[1] for row in basis["chain_findings"]] == ["gap_declared"]
    assert any(f["rule"] == "test_flag" and f["severity"] == "red" for f in report["findings"])
    view = report["views"]["energy,machine"]
    assert view["basis"]["categories"] == ["energy", "machine"]
    assert view["inputs"]["records"] == DAYS * 48 < report["inputs"]["records"]
    assert not any(f["rule"] == "test_flag" for f in view["findings"])  # it cannot see the flag


def test_banks_recompute_the_served_score_bit_for_bit(bank_site) -> None:
    full = cli(bank_site, "all")
    assert full.exit_code == 0 and "recomputed the report bit for bit" in full.output, full.output
    part = cli(bank_site, "em", "--json")
    out = json.loads(part.output)
    assert part.exit_code == 0 and out["ok"] and out["recomputed"] == "view", out
    assert out["view"] == "energy,machine" and out["score"]["served"] == out["score"]["recomputed"]


def test_deleting_all_findings_and_alerts_fails_verify_and_rescore(bank_site) -> None:
    r, t = bank_site["receiver"], bank_site["tokens"]
    assert verify_feed(r.url, "ent-1", t["all"], bank_site["pin"])["failures"] == []
    with r.rdb.write() as conn:
        conn.execute("DELETE FROM findings")
        conn.execute("DELETE FROM alerts")
    out = verify_feed(r.url, "ent-1", t["all"], bank_site["pin"])
    text = "\n".join(out["failures"])
    assert out["failed"] > 0
    assert "states chain finding" in text and "gap_declared" in text and "not serve (deleted)" in text
    assert "finding test_flag" in text and "is not in the findings feed (deleted)" in text
    res = cli(bank_site, "all")
    assert res.exit_code == 1 and "feed verify failed" in res.output


def test_deleting_one_finding_or_editing_one_breaks_the_chain(bank_site) -> None:
    r, t = bank_site["receiver"], bank_site["tokens"]
    with r.rdb.write() as conn:
        first, second = conn.execute("SELECT id FROM findings ORDER BY id LIMIT 2").fetchall()
        conn.execute("UPDATE findings SET severity = 'info' WHERE id = ?", (second[0],))
        conn.execute("DELETE FROM findings WHERE id = ?", (first[0],))
        conn.execute("UPDATE alerts SET level = 'yellow'")
    text = "\n".join(verify_feed(r.url, "ent-1", t["all"], bank_site["pin"])["failures"])
    assert "findings chain: finding" in text and "the first finding was deleted" in text
    assert "hash does not cover its fields (edited)" in text
    assert "alerts chain: alert" in text


def test_a_state_run_notices_the_newest_finding_deleted_since(bank_site) -> None:
    r, t = bank_site["receiver"], bank_site["tokens"]
    first = verify_feed(r.url, "ent-1", t["all"], bank_site["pin"], since={})
    assert first["failed"] == 0 and first["state"]["finding_tip"] and first["state"]["alert_tip"]
    doc = {"url": r.url, "receiver_key": bank_site["pin"], "enterprises": {}}
    feed_verify_state.advance(doc, [first], bank_site["pin"])
    again = verify_feed(r.url, "ent-1", t["all"], bank_site["pin"], since=doc["enterprises"]["ent-1"])
    assert again["failed"] == 0, again["failures"]
    with r.rdb.write() as conn:
        conn.execute("DELETE FROM findings WHERE id = (SELECT max(id) FROM findings)")
        conn.execute("DELETE FROM alerts WHERE id = (SELECT max(id) FROM alerts)")
    later = verify_feed(r.url, "ent-1", t["all"], bank_site["pin"], since=doc["enterprises"]["ent-1"])
    text = "\n".join(later["failures"])
    assert "the receiver no longer serves finding" in text and "the receiver no longer serves alert" in text


@pytest.mark.parametrize("edit", [
    "UPDATE records SET value = value * 3 WHERE name = 'energy.kwh'",
    "UPDATE records SET window_start = window_start + 7200 WHERE name = 'machine.on_minutes'",
])
def test_edited_columns_are_ignored_by_the_analysis_and_the_bank_agrees(bank_site, edit: str) -> None:
    """The analysis reads signed bodies: after editing a derived column, a new analysis reads the
    same inputs (same digest and score) and the bank still recomputes it bit for bit."""
    r = bank_site["receiver"]
    with r.rdb.write() as conn:
        assert conn.execute(edit).rowcount > 0
    again = analyse(r.rdb, "ent-1", as_of=AS_OF, days=DAYS, signing_key=r.key)
    assert again["inputs_sha256"] == bank_site["report"]["inputs_sha256"]
    assert again["score"] == bank_site["report"]["score"]
    assert again["views"] == bank_site["report"]["views"]
    assert cli(bank_site, "all").exit_code == 0 and cli(bank_site, "em").exit_code == 0


def _edit_stored_report(r, change) -> None:
    with r.rdb.write() as conn:
        sid, text = conn.execute("SELECT id, report FROM scores ORDER BY id DESC LIMIT 1").fetchone()
        report = json.loads(text)
        change(report)
        conn.execute("UPDATE scores SET report = ? WHERE id = ?", (json.dumps(report), sid))


def test_an_edited_score_served_to_a_category_limited_bank_fails_rescore(bank_site) -> None:
    """The report is re-signed when served to a narrower grant, so `feed verify` cannot see the edit;
    recomputing the bank's view from its verified records does."""
    r = bank_site["receiver"]

    def better(report: dict[str, Any]) -> None:
        view = report["views"]["energy,machine"]
        view["score"] = view["score"] + 40
        view["subscores"]["operating_stability"] = {"edited": True}

    _edit_stored_report(r, better)
    assert verify_feed(r.url, "ent-1", bank_site["tokens"]["em"], bank_site["pin"])["failures"] == []
    res = cli(bank_site, "em")
    assert res.exit_code == 1, res.output
    assert "view score: served" in res.output and "sub-score operating_stability" in res.output


def test_a_finding_removed_from_a_served_view_is_named(bank_site) -> None:
    r = bank_site["receiver"]
    removed: list[str] = []

    def drop(report: dict[str, Any]) -> None:
        view = report["views"]["energy,machine"]
        if not view["findings"]:  # nothing to remove: invent one instead
            view["findings"].append({"rule": "energy_per_unit", "dedupe": "invented", "severity": "red"})
            removed.append("added")
        else:
            removed.append(view["findings"].pop(0)["rule"])

    _edit_stored_report(r, drop)
    res = cli(bank_site, "em")
    assert res.exit_code == 1
    assert ("served but not recomputed (added by the receiver)" in res.output if removed == ["added"]
            else "recomputed but not served (removed by the receiver)" in res.output), res.output


def test_an_edited_full_report_fails_verify_and_rescore_names_the_score(bank_site) -> None:
    r = bank_site["receiver"]
    _edit_stored_report(r, lambda rep: rep.update(score=rep["score"] + 25))
    res = cli(bank_site, "all")
    assert res.exit_code == 1 and "report differs from what the receiver signed" in res.output, res.output
    # Re-signed by the (dishonest) receiver's own key: the signature holds, the recomputation does not.
    from gateway import wire

    with r.rdb.write() as conn:
        sid, text = conn.execute("SELECT id, report FROM scores ORDER BY id DESC LIMIT 1").fetchone()
        conn.execute("UPDATE scores SET signature = ? WHERE id = ?",
                     (json.dumps(wire.sign_report(json.loads(text), r.key)), sid))
    res = cli(bank_site, "all")
    assert res.exit_code == 1 and "score: served" in res.output, res.output
    assert verify_score(r.rdb, sid)["reproducible"] is False


def test_rescore_json_names_the_bank_categories_and_a_missing_view(bank_site) -> None:
    r = bank_site["receiver"]
    token = add_bank(r.rdb, "bank-energy", "ent-1", "energy")["token"]  # granted after the analysis: no view
    out = rescore(r.url, "ent-1", token, bank_site["pin"])
    assert out["ok"] is False and out["categories"] == ["energy"]
    assert any("has no view for this bank's categories" in p for p in out["problems"])
    analyse(r.rdb, "ent-1", as_of=AS_OF, days=DAYS, signing_key=r.key)  # the next analysis computes it
    assert rescore(r.url, "ent-1", token, bank_site["pin"])["ok"] is True


def test_records_beyond_the_bound_that_were_created_before_as_of_are_counted(bank_site) -> None:
    """A report's bound is its own statement; records the gateway created before ``as_of`` that it
    leaves out are not a failure (outboxes deliver late) but are counted for the bank to see."""
    r, gw = bank_site["receiver"], bank_site["gw"]
    out = rescore(r.url, "ent-1", bank_site["tokens"]["all"], bank_site["pin"])
    assert out["ok"] and out["after_bound"] == 0
    late = [rec("energy.kwh", T0 + 3 * DAY + h * 3600, 3600, 99.0, "meter-late") for h in range(3)]
    assert r.post(gw.next(records=late, created="2025-12-01T00:00:00.000Z").envelope())[1]["status"] == "accepted"
    out = rescore(r.url, "ent-1", bank_site["tokens"]["all"], bank_site["pin"])
    assert out["ok"] and out["after_bound"] == 3
