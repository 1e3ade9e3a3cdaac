"""Analysis end to end on a real receiver database fed through real ingest of signed batches.

The history is built by a gateway that signs real batches (tests/cloud/cloud_helpers.FakeGateway)
and goes through ``cloud_stub.ingest.ingest`` exactly as HTTP/MQTT would deliver it. A small
test rule (registered only for these tests) turns a ``test.flag`` indicator into a red
production-authenticity finding, so storing findings, alerts and reproducibility are tested
on findings whatever the production rules decide about this tiny history.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cloud_helpers import FakeGateway, wait_for
from nacl.signing import SigningKey

from cloud_stub import receiver_key
from cloud_stub.analysis import (
    AnalysisError,
    PeriodicAnalysis,
    analyse,
    analyse_all,
    recompute,
    run_analysis,
    verify_score,
)
from cloud_stub.cli import cloud
from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import enroll, issue_token
from cloud_stub.ingest import ingest
from cloud_stub.rules import base
from cloud_stub.rules.base import Finding, Rule
from cloud_stub.scoring import shipped_path
from gateway import wire

T0 = 1764201600  # 2025-11-27 00:00 UTC
DAY = 86400
AS_OF = T0 + 21 * DAY


class FlagRule(Rule):
    """Red whenever an enterprise sends a ``test.flag`` indicator with a value above ``limit``."""

    id, version, subscore, title = "test_flag", 1, "production_authenticity", "test flag"
    defaults: Mapping[str, Any] = {"limit": 0.5}

    def evaluate(self, ev: Any, params: Mapping[str, Any]) -> list[Finding]:
        out = []
        for subject in ev.subjects("test.flag"):
            s = ev.series("test.flag", subject, 3600)
            for t, v in zip(s.start.tolist(), s.value.tolist(), strict=True):
                if v > params["limit"]:
                    out.append(Finding(
                        rule=self.id, version=self.version, severity="red", subscore=self.subscore,
                        key=f"{subject}:{t}", window_start=t, window_end=t + 3600, indicators=("test.flag",),
                        compared={"value": v}, statistic={"value": v}, threshold={"limit": params["limit"]},
                        direction="above", message=f"flag {v} > {params['limit']}"))
        return out


@pytest.fixture(autouse=True)
def flag_rule() -> Iterator[None]:
    base.register(FlagRule)
    yield
    base._REGISTRY.pop(FlagRule.id, None)
    for k in [k for k in base._VERSIONS if k[0] in (FlagRule.id, "test_later")]:
        base._VERSIONS.pop(k)


def rec(name: str, start: int, length: int, value: float, subject: str = "press-1") -> dict[str, Any]:
    return {"type": "indicator", "name": name, "category": name.split(".")[0], "subject": subject,
            "window": {"start": start, "len": length}, "value": value, "unit": "x", "q": [], "def": 1}


def day_records(day: int, flag: float = 0.0) -> list[dict[str, Any]]:
    start = T0 + day * DAY
    out = [rec("energy.kwh", start + h * 3600, 3600, 40.0 + (h % 3)) for h in range(24)]
    out += [rec("machine.on_minutes", start + h * 3600, 3600, 50.0) for h in range(24)]
    out.append(rec("mes.produced_qty", start, DAY, 1000.0, "product:abc"))
    if flag:
        out.append(rec("test.flag", start + 3600, 3600, flag))
    return out


class Site:
    """One enterprise's gateway feeding the receiver through real ingest."""

    def __init__(self, rdb: ReceiverDB, enterprise: str, gateway_id: str) -> None:
        self.rdb, self.gw = rdb, FakeGateway(gateway_id=gateway_id, enterprise=enterprise)
        token = issue_token(rdb, enterprise)["token"]
        req = self.gw.enroll_request(token)
        enroll(rdb, req["token"], req["gateway_id"], req["public_key"], req["proof"])

    def send(self, records: list[dict[str, Any]]) -> None:
        result = ingest(self.rdb, self.gw.next(records).envelope())
        assert result.status == "accepted", result.to_json()


def history(rdb: ReceiverDB, enterprise: str = "ent-1", days: int = 20, flag_day: int | None = 10) -> Site:
    site = Site(rdb, enterprise, f"gw-{enterprise}")
    for d in range(days):
        site.send(day_records(d, flag=2.0 if d == flag_day else 0.0))
    return site


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return receiver_key.load_or_create(Path(f"{tmp_path / 'receiver.db'}.receiver.key"))


def count(rdb: ReceiverDB, sql: str, *args: Any) -> int:
    with rdb.read() as conn:
        return int(conn.execute(sql, args).fetchone()[0])


def test_analyse_stores_a_signed_report_its_findings_and_alerts(rdb: ReceiverDB, key: SigningKey) -> None:
    history(rdb)
    report = analyse(rdb, "ent-1", as_of=AS_OF, days=30, signing_key=key)
    assert report["enterprise_id"] == "ent-1" and report["as_of"] == AS_OF
    assert report["period"] == {"start": AS_OF - 30 * DAY, "end": AS_OF}
    assert report["scoring_version"] == "scorecard-v1"
    assert report["inputs"]["records"] == 20 * 49 + 1
    assert report["rules"]["test_flag"] == 1
    flag = [f for f in report["findings"] if f["rule"] == "test_flag"]
    assert [f["dedupe"] for f in flag] == [f"test_flag:v1:press-1:{T0 + 10 * DAY + 3600}"]
    assert report["warning_level"] == "red"  # a red production-authenticity finding
    reason = next(r for r in report["reasons"] if "test_flag" in r["rules"])
    assert reason["code"] == "PA99" and reason["findings"] == [flag[0]["dedupe"]]

    with rdb.read() as conn:
        row = conn.execute("SELECT id, report, signature, inputs_sha256, max_record_id, grade, score"
                           " FROM scores").fetchone()
        stored = conn.execute("SELECT kind, severity, rule_version, subscore, window_start, dedupe, detail"
                              " FROM findings WHERE kind = 'test_flag'").fetchall()
        alerts = conn.execute("SELECT kind, level, detail FROM alerts ORDER BY id").fetchall()
    assert json.loads(row[1]) == report
    assert wire.verify_report(json.loads(row[2]), bytes(key.verify_key)) == report  # the receiver's own key
    assert row[3] == report["inputs_sha256"] and row[5] == report["grade"] and row[6] == report["score"]
    assert row[4] == count(rdb, "SELECT max(id) FROM records")
    assert len(stored) == 1
    kind, sev, ver, sub, ws, dedupe, detail = stored[0]
    assert (kind, sev, ver, sub, ws) == ("test_flag", "red", 1, "production_authenticity", T0 + 10 * DAY + 3600)
    assert dedupe == f"ent-1/{flag[0]['dedupe']}"
    assert json.loads(detail)["compared"] == {"value": 2.0}
    assert [(k, lvl) for k, lvl, _ in alerts] == [("red_finding", "red"), ("warning_level", "red")]
    assert json.loads(alerts[0][2])["finding"] == flag[0]["dedupe"]


def test_reports_are_signed_by_default_with_the_receivers_key_file(rdb: ReceiverDB, key: SigningKey) -> None:
    history(rdb, flag_day=None)
    a = run_analysis(rdb, "ent-1", AS_OF, 30)  # no key given: the one next to the database, as serve uses
    with rdb.read() as conn:
        signature = json.loads(conn.execute("SELECT signature FROM scores").fetchone()[0])
    assert signature["kid"] == wire.key_id(bytes(key.verify_key))
    assert wire.verify_report(signature, bytes(key.verify_key)) == a.report


def test_analysing_again_stores_findings_and_alerts_once(rdb: ReceiverDB, key: SigningKey) -> None:
    history(rdb)
    first = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    second = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    assert second.score_id == first.score_id + 1
    assert set(first.stages) == {"load", "digest", "rules_and_score", "sign_and_store"}
    assert 0 < sum(first.stages.values()) <= first.seconds
    assert second.report == first.report  # nothing changed in between, and no clock in the report
    assert second.alerts == []  # same red finding, same warning level: nothing new to act on
    assert count(rdb, "SELECT count(*) FROM findings WHERE kind = 'test_flag'") == 1
    assert count(rdb, "SELECT count(*) FROM alerts") == 2


def test_other_enterprises_sending_do_not_change_a_report(rdb: ReceiverDB, key: SigningKey) -> None:
    history(rdb, "ent-a")
    other = history(rdb, "ent-b", days=2, flag_day=None)
    first = analyse(rdb, "ent-a", AS_OF, 30, signing_key=key)
    other.send(day_records(2))  # higher record ids, another enterprise
    assert analyse(rdb, "ent-a", AS_OF, 30, signing_key=key) == first
    assert first["inputs"]["max_record_id"] < count(rdb, "SELECT max(id) FROM records")


def test_a_stored_score_recomputes_identically_even_after_more_data_arrives(rdb: ReceiverDB,
                                                                              key: SigningKey) -> None:
    site = history(rdb)
    a = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    site.send(day_records(20, flag=3.0))  # inside the period, but after the stored bounds
    assert recompute(rdb, a.score_id) == a.report
    check = verify_score(rdb, a.score_id, public_key=bytes(key.verify_key))
    assert check["reproducible"] is True, check["problems"]
    assert check["inputs_sha256"]["stored"] == check["inputs_sha256"]["recomputed"]
    b = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)  # the new analysis does see the new day
    assert b.report["inputs_sha256"] != a.report["inputs_sha256"]
    assert len([f for f in b.report["findings"] if f["rule"] == "test_flag"]) == 2


def test_tampering_with_a_stored_input_is_detected(rdb: ReceiverDB, key: SigningKey) -> None:
    """The analysis reads the signed bodies: an edited body no longer hashes to its batch hash."""
    history(rdb)
    a = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    with rdb.write() as conn:
        h, body = conn.execute("SELECT hash, body FROM batches WHERE seq = 3").fetchone()
        forged = bytes(body).replace(b'"value":1000.0', b'"value":2000.0', 1)
        assert forged != bytes(body)
        conn.execute("UPDATE batches SET body = ? WHERE hash = ?", (forged, h))
    check = verify_score(rdb, a.score_id, public_key=bytes(key.verify_key))
    assert check["reproducible"] is False
    assert any("does not hash to its batch hash" in p for p in check["problems"]), check["problems"]


def test_an_analysis_refuses_an_edited_body_and_names_its_batch(rdb: ReceiverDB, key: SigningKey) -> None:
    history(rdb, days=3)
    with rdb.write() as conn:
        h = conn.execute("SELECT hash FROM batches WHERE seq = 2").fetchone()[0]
        conn.execute("UPDATE batches SET body = ? WHERE hash = ?", (b'{"records":[]}', h))
    with pytest.raises(AnalysisError, match=f"batch {h[:16]}: stored body does not hash to its batch hash"):
        run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)


@pytest.mark.parametrize("edit", [
    "UPDATE records SET value = value * 2 WHERE name = 'mes.produced_qty' AND seq = 3",
    "UPDATE records SET window_start = window_start - 86400 * 400 WHERE name = 'energy.kwh' AND seq = 4",
    "UPDATE records SET name = 'energy.other', category = 'other', quality = '[\"no_data\"]' WHERE seq = 5",
])
def test_the_analysis_ignores_edited_derived_columns(rdb: ReceiverDB, key: SigningKey, edit: str) -> None:
    """Values and windows come from the signed bodies, not the columns an operator can edit:
    after the edit, the stored score still recomputes identically and a fresh analysis reads
    exactly the same inputs (same digest, same score)."""
    history(rdb)
    a = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    with rdb.write() as conn:
        assert conn.execute(edit).rowcount > 0
    check = verify_score(rdb, a.score_id, public_key=bytes(key.verify_key))
    assert check["reproducible"] is True, check["problems"]
    b = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    assert b.report["inputs_sha256"] == a.report["inputs_sha256"]
    assert b.report["basis"] == a.report["basis"] and b.report["score"] == a.report["score"]


def test_an_old_score_keeps_its_digest_under_loader_1(rdb: ReceiverDB, key: SigningKey) -> None:
    """Reports made before values were read from signed bodies carry no ``basis``: they are
    recomputed with loader 1, whose digest equals the one the old column reader produced."""
    import legacy_rule_inputs_v1 as legacy

    from cloud_stub.rule_inputs import load_rule_inputs

    history(rdb)
    a = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    bounds = (AS_OF - 30 * DAY, AS_OF, a.report["inputs"]["max_record_id"], a.report["inputs"]["max_finding_id"])
    with rdb.read() as conn:
        old = legacy.load_rule_inputs(conn, "ent-1", *bounds)
        new = load_rule_inputs(conn, "ent-1", *bounds, loader=1)
        cur = load_rule_inputs(conn, "ent-1", *bounds)
    assert new.digest() == old.digest() and old.record_count > 500
    assert cur.digest() != old.digest() and cur.loader == 2  # loader 2 leaves out `received`
    # An old-style stored report (no basis) still rescores identically.
    legacy_report = {k: v for k, v in a.report.items() if k != "basis"}
    legacy_report["inputs_sha256"] = old.digest()
    signed = wire.sign_report(legacy_report, key)
    with rdb.write() as conn:
        conn.execute("UPDATE scores SET report = ?, signature = ?, inputs_sha256 = ? WHERE id = ?",
                     (wire.canonical_json(legacy_report).decode(), json.dumps(signed), old.digest(), a.score_id))
    check = verify_score(rdb, a.score_id, public_key=bytes(key.verify_key))
    assert check["reproducible"] is True, check["problems"]


def test_a_tampered_stored_report_fails_against_its_signature(rdb: ReceiverDB, key: SigningKey) -> None:
    history(rdb)
    a = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    forged = dict(a.report, score=700.0, grade="A", warning_level="green")
    with rdb.write() as conn:
        conn.execute("UPDATE scores SET report = ? WHERE id = ?", (json.dumps(forged), a.score_id))
    check = verify_score(rdb, a.score_id, public_key=bytes(key.verify_key))
    assert check["reproducible"] is False
    assert "signature: the signed report is not the stored report" in check["problems"]
    assert any("$.score" in p for p in check["problems"])


def test_recompute_refuses_a_different_table(rdb: ReceiverDB, key: SigningKey, tmp_path: Path) -> None:
    history(rdb)
    a = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    other = tmp_path / "other.toml"
    other.write_text(shipped_path("scorecard-v1").read_text().replace("red = 1.2", "red = 2.0"))
    with pytest.raises(AnalysisError) as err:
        recompute(rdb, a.score_id, other)
    assert err.value.code == "config_changed"
    # A score made with a custom table recomputes with that table, and with no other.
    c = run_analysis(rdb, "ent-1", AS_OF, 30, config_path=other, signing_key=key)
    assert c.report["config_sha256"] != a.report["config_sha256"]
    assert c.report["score"] < a.report["score"]
    assert recompute(rdb, c.score_id, other) == c.report
    with pytest.raises(AnalysisError):
        recompute(rdb, c.score_id)


class LaterRule(FlagRule):
    id = "test_later"


class FlagRuleV2(FlagRule):
    version = 2


def test_recompute_uses_the_rules_the_score_used(rdb: ReceiverDB, key: SigningKey) -> None:
    history(rdb)
    a = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    base.register(LaterRule)  # a rule added after the score: the old score still reproduces
    try:
        assert verify_score(rdb, a.score_id)["reproducible"] is True
        assert "test_later" in run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key).report["rules"]
    finally:
        base._REGISTRY.pop(LaterRule.id, None)
    base.register(FlagRuleV2)  # a new version, the old one kept registered: the old score reproduces with v1
    assert base.registered()[FlagRule.id] is FlagRuleV2
    assert verify_score(rdb, a.score_id)["reproducible"] is True
    base._VERSIONS.pop((FlagRule.id, 1))  # v1 no longer shipped: the old score cannot be recomputed
    with pytest.raises(AnalysisError) as err:
        recompute(rdb, a.score_id)
    assert err.value.code == "rules_changed" and "test_flag v1; this receiver has v2" in err.value.message
    check = verify_score(rdb, a.score_id)
    assert check["reproducible"] is False and "test_flag v1" in check["problems"][0]


def test_an_earlier_rule_version_kept_for_rescoring_reproduces_old_scores(rdb: ReceiverDB, key: SigningKey) -> None:
    history(rdb)
    a = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    base._REGISTRY.pop(FlagRule.id)
    base.register(FlagRuleV2)
    base.register(FlagRule)  # v1 kept beside v2 (as collateral_changes v1 is); the fixture unregisters both
    assert verify_score(rdb, a.score_id)["reproducible"] is True
    assert run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key).report["rules"]["test_flag"] == 2


def test_collateral_rules_keep_their_first_versions_for_rescoring() -> None:
    from cloud_stub.rules import all_rules, registered_version

    rules = all_rules()
    for rid in ("collateral_changes", "collateral_weight"):
        assert rules[rid].version == 2
        old = registered_version(rid, 1)
        assert old is not None and old.version == 1 and old.id == rid


def test_rule_params_from_the_table_reach_the_rule(rdb: ReceiverDB, key: SigningKey, tmp_path: Path) -> None:
    history(rdb)
    cfg = tmp_path / "sc.toml"
    cfg.write_text(shipped_path("scorecard-v1").read_text().replace("[rules]", "[rules.test_flag]\nlimit = 5.0"))
    report = analyse(rdb, "ent-1", AS_OF, 30, config_path=cfg, signing_key=key)
    assert not [f for f in report["findings"] if f["rule"] == "test_flag"]


def test_thin_history_is_graded_insufficient(rdb: ReceiverDB, key: SigningKey) -> None:
    history(rdb, days=3, flag_day=None)
    report = analyse(rdb, "ent-1", AS_OF, 30, signing_key=key)
    assert report["grade"] == "insufficient_data"
    assert report["warning_level"] in ("yellow", "orange", "red")
    assert report["reasons"][0]["code"] == "DS01"
    assert report["sufficiency"]["days_with_data"] == 3


def test_warning_level_alerts_only_when_it_gets_worse(rdb: ReceiverDB, key: SigningKey) -> None:
    site = history(rdb, days=3, flag_day=None)
    first = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    assert first.report["warning_level"] == "yellow" and first.alerts == []  # new and thin: not news
    for d in range(3, 20):
        site.send(day_records(d))
    green = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    assert green.report["warning_level"] == "green" and green.alerts == []
    site.send(day_records(20, flag=2.0))
    red = run_analysis(rdb, "ent-1", AS_OF + DAY, 30, signing_key=key)
    level = [a for a in red.alerts if a["kind"] == "warning_level"]
    assert [(a["level"], a["detail"]["previous"]) for a in level] == [("red", "green")]


def test_a_score_long_after_the_data_stopped_is_not_graded(rdb: ReceiverDB, key: SigningKey) -> None:
    history(rdb, flag_day=None)  # days 0-19
    fresh = analyse(rdb, "ent-1", AS_OF, 60, signing_key=key)
    assert fresh["grade"] != "insufficient_data" and fresh["sufficiency"]["days_since_data"] == 1.0
    late = analyse(rdb, "ent-1", AS_OF + 30 * DAY, 60, signing_key=key)
    assert late["grade"] == "insufficient_data" and late["sufficiency"]["days_since_data"] == 31.0


def test_an_enterprise_with_no_data_is_not_graded(rdb: ReceiverDB, key: SigningKey) -> None:
    issue_token(rdb, "ent-empty")
    report = analyse(rdb, "ent-empty", AS_OF, 30, signing_key=key)
    assert (report["grade"], report["warning_level"]) == ("insufficient_data", "yellow")
    assert report["inputs"]["records"] == 0 and report["findings"] == []
    assert report["rules"] and "chain_integrity" in report["rules"]  # the rules ran and found nothing
    assert "0 days with indicator data" in report["reasons"][0]["text"]


def test_equivocation_raises_a_red_alert(rdb: ReceiverDB, key: SigningKey) -> None:
    site = history(rdb, flag_day=None)
    twin = site.gw.make(seq=site.gw.seq, prev=site.gw.prev, records=day_records(30))  # same seq, other bytes
    assert ingest(rdb, twin.envelope()).code == "equivocation"
    a = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    assert a.report["chain"]["equivocations"] == 1
    assert a.report["warning_level"] == "red"
    eq = [x for x in a.alerts if x["kind"] == "equivocation"]
    assert len(eq) == 1 and eq[0]["level"] == "red" and eq[0]["detail"]["gateway_id"] == "gw-ent-1"


def test_bad_requests_store_nothing(rdb: ReceiverDB, key: SigningKey) -> None:
    history(rdb)
    with pytest.raises(AnalysisError) as err:
        analyse(rdb, "nobody", AS_OF, signing_key=key)
    assert err.value.code == "unknown_enterprise"
    with pytest.raises(AnalysisError):
        analyse(rdb, "ent-1", AS_OF, days=0, signing_key=key)
    with pytest.raises(AnalysisError) as err:
        recompute(rdb, 999)
    assert err.value.code == "unknown_score"
    assert count(rdb, "SELECT count(*) FROM scores") == 0
    assert count(rdb, "SELECT count(*) FROM findings WHERE kind = 'test_flag'") == 0


def test_analyse_all_scores_every_enterprise(rdb: ReceiverDB, key: SigningKey) -> None:
    history(rdb, "ent-a", flag_day=None)
    history(rdb, "ent-b", flag_day=5)
    done = {a.enterprise_id: a for a in analyse_all(rdb, AS_OF, 30, signing_key=key)}
    assert sorted(done) == ["ent-a", "ent-b"]
    assert done["ent-a"].report["warning_level"] != "red"
    assert done["ent-b"].report["warning_level"] == "red"
    assert all(verify_score(rdb, a.score_id)["reproducible"] for a in done.values())


def test_periodic_analysis_scores_every_enterprise_on_its_own_connection(tmp_path: Path, key: SigningKey) -> None:
    db = tmp_path / "receiver.db"
    rdb = ReceiverDB(db)
    history(rdb, "ent-a", flag_day=None)
    history(rdb, "ent-b", flag_day=None)
    periodic = PeriodicAnalysis(lambda: ReceiverDB(db), 0.1, key, days=30)
    periodic.start()
    try:
        wait_for(lambda: count(rdb, "SELECT count(DISTINCT enterprise_id) FROM scores") == 2)
    finally:
        periodic.stop()
    assert periodic.rounds >= 1
    rdb.close()
    with pytest.raises(ValueError):
        PeriodicAnalysis(lambda: ReceiverDB(db), 0, key)


# --- CLI ------------------------------------------------------------------------------------


def test_cli_analyse_scores_and_rescore(tmp_path: Path) -> None:
    db = tmp_path / "receiver.db"
    rdb = ReceiverDB(db)
    history(rdb)
    rdb.close()
    run = CliRunner().invoke
    out = run(cloud, ["analyse", "--db", str(db), "--enterprise", "ent-1", "--as-of", "2025-12-18T00:00:00Z",
                      "--days", "30", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    assert got["report"]["as_of"] == AS_OF and got["score_id"] == 1
    text = run(cloud, ["analyse", "--db", str(db), "--all", "--as-of", str(AS_OF), "--days", "30"])
    assert text.exit_code == 0 and "ent-1: score" in text.output and "(score id 2)" in text.output
    listed = run(cloud, ["scores", "--db", str(db), "--enterprise", "ent-1", "--json"])
    assert [s["id"] for s in json.loads(listed.output)] == [2, 1]
    text_list = run(cloud, ["scores", "--db", str(db), "--enterprise", "ent-1"]).output.splitlines()
    assert len(text_list) == 2 and "as of 2025-12-18T00:00Z" in text_list[0] and "scorecard-v1" in text_list[0]
    ok = run(cloud, ["rescore", "--db", str(db), "--score-id", "1"])
    assert ok.exit_code == 0 and "score 1: reproducible" in ok.output

    rdb = ReceiverDB(db)
    with rdb.write() as conn:
        conn.execute("UPDATE records SET value = 0 WHERE name = 'energy.kwh' AND seq = 2")
    rdb.close()
    ignored = run(cloud, ["rescore", "--db", str(db), "--score-id", "1"])  # the analysis reads signed bodies
    assert ignored.exit_code == 0 and "score 1: reproducible" in ignored.output
    rdb = ReceiverDB(db)
    with rdb.write() as conn:
        conn.execute("UPDATE batches SET body = CAST(? AS BLOB) WHERE seq = 2", (b'{"forged":1}',))
    rdb.close()
    bad = run(cloud, ["rescore", "--db", str(db), "--score-id", "1"])
    assert bad.exit_code == 1 and "NOT reproducible" in bad.output and "does not hash" in bad.output
    missing = run(cloud, ["rescore", "--db", str(db), "--score-id", "77"])
    assert missing.exit_code == 1 and "unknown_score" in missing.output
    usage = run(cloud, ["analyse", "--db", str(db)])
    assert usage.exit_code == 2 and "exactly one of --enterprise ID or --all" in usage.output
    bad_time = run(cloud, ["analyse", "--db", str(db), "--all", "--as-of", "yesterday"])
    assert bad_time.exit_code == 2 and "not an ISO 8601 time" in bad_time.output
    unknown = run(cloud, ["analyse", "--db", str(db), "--enterprise", "nobody"])
    assert unknown.exit_code == 1 and "no enterprise 'nobody'" in unknown.output


def test_serve_analyse_every_scores_in_the_background(tmp_path: Path) -> None:
    db = tmp_path / "receiver.db"
    rdb = ReceiverDB(db)
    history(rdb, flag_day=None)
    ready = tmp_path / "ready.json"
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "cloud_stub", "serve", "--db", str(db), "--port", "0",
                             "--ready-file", str(ready), "--analyse-every", "1"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: count(rdb, "SELECT count(*) FROM scores") >= 1 or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        rdb.close()
    assert proc.returncode in (0, -15)


def test_a_kept_older_rule_version_still_recomputes_old_scores(rdb: ReceiverDB, key: SigningKey) -> None:
    history(rdb)
    a = run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key)
    base.register(FlagRuleV2)  # v2 becomes current; v1 stays registered beside it
    assert base.registered()["test_flag"] is FlagRuleV2
    assert base.registered_version("test_flag", 1) is FlagRule
    check = verify_score(rdb, a.score_id)
    assert check["reproducible"] is True, check["problems"]
    assert run_analysis(rdb, "ent-1", AS_OF, 30, signing_key=key).report["rules"]["test_flag"] == 2
    with pytest.raises(ValueError, match="version 2"):
        base.register(type("Other", (FlagRuleV2,), {}))


def test_every_kept_rule_version_is_registered_under_its_id() -> None:
    from cloud_stub.rules import all_rules

    current = all_rules()
    assert current["shipments_vs_outcounts"].version == 3 and current["energy_per_unit"].version == 2
    for rid, old in (("shipments_vs_outcounts", 2), ("energy_per_unit", 1)):
        cls = base.registered_version(rid, old)
        assert cls is not None and cls.version == old and cls.id == rid
