"""The scorecard arithmetic and its configuration, on findings built by hand.

Scores here are checked against numbers worked out independently from the scale
definition (600 points at 50:1, 20 points to double the odds), not against the code's
own output, so a wrong factor, offset, cap or attribution fails a test.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cloud_stub.rules import all_rules
from cloud_stub.rules.base import Finding, Rule
from cloud_stub.scoring import INSUFFICIENT, ConfigError, Sufficiency, load_config, score_card, shipped_path

DAY = 86400
ENOUGH = Sufficiency(days_with_data=60, indicator_records=5000, source_families=("energy", "mes", "vision"))


def finding(rule: str = "r_pa", severity: str = "red", subscore: str = "production_authenticity",
            key: str = "k", days: float = 1.0) -> Finding:
    return Finding(rule=rule, version=1, severity=severity, subscore=subscore, key=key, window_start=0,
                   window_end=int(days * DAY), indicators=("mes.produced_qty",), compared={"a": 1, "b": 2},
                   statistic={"z": 5.0}, threshold={"z": 3.0}, direction="claims_exceed_evidence", message="m")


@pytest.fixture(scope="module")
def cfg():
    return load_config()


def test_scale_is_points_to_double_odds(cfg) -> None:
    factor = 20 / math.log(2)
    assert cfg.factor == pytest.approx(factor)
    assert cfg.points(math.log(50)) == pytest.approx(600)
    assert cfg.points(math.log(100)) == pytest.approx(620)
    assert cfg.points(math.log(25)) == pytest.approx(580)
    assert cfg.offset == pytest.approx(600 - factor * math.log(50))


def test_clean_enterprise_gets_the_clean_odds_score(cfg) -> None:
    card = score_card(cfg, [], ENOUGH)
    assert card["score"] == pytest.approx(640, abs=1e-3)  # 200:1 = two doublings above 50:1
    assert card["grade"] == "A" and card["warning_level"] == "green"
    assert card["reasons"] == []
    assert sum(s["points"] for s in card["subscores"].values()) == pytest.approx(
        sum(s["max"] for s in card["subscores"].values()))


def test_one_red_finding_costs_its_weight_in_log_odds(cfg) -> None:
    card = score_card(cfg, [finding()], ENOUGH)
    # red 1.2 x production_authenticity 1.0 x persistence 1 (one day) = 1.2 log-odds
    expected = 640 - 1.2 * 20 / math.log(2)
    assert card["score"] == pytest.approx(expected, abs=1e-3)
    pa = card["subscores"]["production_authenticity"]
    assert pa["points_lost"] == pytest.approx(1.2 * 20 / math.log(2), abs=1e-3)
    assert pa["findings"] == ["r_pa:v1:k"]


def test_persistence_makes_a_long_finding_cost_more_up_to_the_maximum(cfg) -> None:
    one = score_card(cfg, [finding(severity="yellow", days=1)], ENOUGH)["score"]
    six = score_card(cfg, [finding(severity="yellow", days=6)], ENOUGH)["score"]
    year = score_card(cfg, [finding(severity="yellow", days=365)], ENOUGH)["score"]
    f = 20 / math.log(2)
    assert 640 - one == pytest.approx(0.15 * f, abs=1e-3)
    assert 640 - six == pytest.approx(0.15 * 1.5 * f, abs=1e-3)  # 1 + 0.1 x 5 days
    assert 640 - year == pytest.approx(0.15 * 2.0 * f, abs=1e-3)  # capped at persistence_max


def test_one_noisy_rule_cannot_take_more_than_its_cap(cfg) -> None:
    noisy = [finding(key=f"k{i}") for i in range(200)]
    card = score_card(cfg, noisy, ENOUGH)
    assert card["score"] == pytest.approx(640 - 1.5 * cfg.factor, abs=1e-3)
    assert card["subscores"]["production_authenticity"]["rules"]["r_pa"]["rule_capped"] is True
    assert card["grade"] != "E"


def test_a_rule_in_two_subscores_is_charged_to_each_under_one_cap(cfg) -> None:
    stop = [finding(rule="changepoints", subscore="operating_stability", key=f"s{i}") for i in range(2)]
    claim = [finding(rule="changepoints", subscore="production_authenticity", key=f"c{i}") for i in range(2)]
    card = score_card(cfg, stop + claim, ENOUGH)
    os_, pa = card["subscores"]["operating_stability"], card["subscores"]["production_authenticity"]
    # raw: 2 x 1.2 x 0.6 = 1.44 (OS) + 2 x 1.2 x 1.0 = 2.4 (PA) = 3.84 > cap 1.5, shared 1.44 : 2.4
    assert os_["log_odds_lost"] == pytest.approx(1.5 * 1.44 / 3.84, abs=1e-4)
    assert pa["log_odds_lost"] == pytest.approx(1.5 * 2.4 / 3.84, abs=1e-4)
    assert card["score"] == pytest.approx(640 - 1.5 * cfg.factor, abs=1e-3)
    (reason,) = card["reasons"]
    assert reason["code"] == "OS01" and reason["subscores"] == ["operating_stability", "production_authenticity"]
    assert reason["rules"] == ["changepoints"] and len(reason["findings"]) == 4


def test_subscore_cap_binds_and_attribution_still_adds_up(cfg) -> None:
    fs = [finding(rule=f"r{j}", key=f"k{i}") for j in range(3) for i in range(5)]  # 3 rules x cap 1.5 = 4.5
    card = score_card(cfg, fs, ENOUGH)
    pa = card["subscores"]["production_authenticity"]
    assert pa["capped"] is True
    assert pa["points_lost"] == pytest.approx(2.8 * cfg.factor, abs=1e-3)
    assert pa["points"] == pytest.approx(0, abs=1e-3)
    per_rule = sum(r["points_lost"] for r in pa["rules"].values())
    assert per_rule == pytest.approx(pa["points_lost"], abs=1e-3)
    assert card["score"] == pytest.approx(640 - 2.8 * cfg.factor, abs=1e-3)


def test_red_in_production_or_collateral_is_red_even_with_a_good_score(cfg) -> None:
    red_pa = score_card(cfg, [finding(days=0)], ENOUGH)
    assert red_pa["score"] > cfg.grades["C"]
    assert red_pa["warning_level"] == "red"
    red_cs = score_card(cfg, [finding(rule="r_cs", subscore="collateral_safety")], ENOUGH)
    assert red_cs["warning_level"] == "red"
    red_os = score_card(cfg, [finding(rule="r_os", subscore="operating_stability")], ENOUGH)
    assert red_os["warning_level"] == "orange"
    orange = score_card(cfg, [finding(severity="orange", subscore="operating_stability")], ENOUGH)
    assert orange["warning_level"] == "yellow"
    assert score_card(cfg, [], ENOUGH, equivocations=1)["warning_level"] == "red"


def test_info_findings_cost_nothing_and_give_no_reason(cfg) -> None:
    card = score_card(cfg, [finding(severity="info")], ENOUGH)
    assert card["score"] == pytest.approx(640, abs=1e-3) and card["reasons"] == []


def test_too_little_evidence_is_not_a_good_grade(cfg) -> None:
    thin = Sufficiency(days_with_data=3, indicator_records=50, source_families=("energy",))
    card = score_card(cfg, [], thin)
    assert card["grade"] == INSUFFICIENT
    assert card["score_grade"] == "A"  # the number is still shown, the grade is withheld
    assert card["warning_level"] == "yellow"
    assert card["reasons"][0]["code"] == "DS01"
    assert "3 days with indicator data, need 14" in card["reasons"][0]["text"]
    assert card["sufficiency"]["ok"] is False


def test_data_that_stopped_long_ago_is_not_graded(cfg) -> None:
    stale = Sufficiency(days_with_data=60, indicator_records=5000, source_families=("energy", "mes"),
                        days_since_data=30.0)
    card = score_card(cfg, [], stale)
    assert card["grade"] == INSUFFICIENT
    assert "last indicator data 30.0 days before the end of the period, at most 7" in card["reasons"][0]["text"]
    recent = Sufficiency(60, 5000, ("energy", "mes"), days_since_data=1.0)
    assert score_card(cfg, [], recent)["grade"] == "A"


def test_reasons_at_most_four_ordered_by_points_lost_and_tied_to_findings(tmp_path: Path) -> None:
    text = shipped_path("scorecard-v1").read_text().replace(
        "[reasons]\n",
        '[reasons]\nr_pa = { code = "PA11", text = "Claimed output exceeds camera counts" }\n'
        'r_cs = { code = "CS11", text = "Collateral weight below pledge" }\n')
    p = tmp_path / "sc.toml"
    p.write_text(text)
    cfg = load_config(p)
    fs = [finding(rule="r_pa", key="a"), finding(rule="r_pa", key="b", severity="yellow"),
          finding(rule="r_cs", subscore="collateral_safety", severity="orange"),
          finding(rule="r_di", subscore="data_integrity", severity="yellow"),
          finding(rule="r_os", subscore="operating_stability", severity="yellow"),
          finding(rule="r_os2", subscore="operating_stability", severity="red")]
    reasons = score_card(cfg, fs, ENOUGH)["reasons"]
    assert len(reasons) == 4
    assert [r["code"] for r in reasons] == ["PA11", "OS99", "CS11", "DI99"]
    lost = [r["points_lost"] for r in reasons]
    assert lost == sorted(lost, reverse=True)
    assert reasons[0]["findings"] == ["r_pa:v1:a", "r_pa:v1:b"]  # biggest penalty first
    assert reasons[1]["rules"] == ["r_os", "r_os2"]  # catch-all merges rules without a code


# --- configuration --------------------------------------------------------------------------


def _bad(tmp_path: Path, old: str, new: str, known: dict | None = None) -> str:
    text = shipped_path("scorecard-v1").read_text()
    assert old in text
    p = tmp_path / "bad.toml"
    p.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_config(p, known)
    msg = str(err.value)
    assert str(p) in msg
    return msg


class _R(Rule):
    id, version, subscore, title = "test_rule", 1, "production_authenticity", "t"
    defaults = {"z_threshold": 3.0, "min_days": 7}

    def evaluate(self, ev, params):  # pragma: no cover - never run
        return []


def test_config_errors_name_the_key_and_what_was_expected(tmp_path: Path) -> None:
    assert "scorecard.pdo: expected a number > 0, found -20" in _bad(tmp_path, "pdo = 20.0", "pdo = -20")
    assert "scorecard.base_odds: expected this key" in _bad(tmp_path, "base_odds = 50.0", "")
    assert "penalties.severity.red: expected a finite number, found 'high'" in _bad(
        tmp_path, "red = 1.2", 'red = "high"')
    assert "grades.B: expected a minimum above grades.C" in _bad(tmp_path, "B = 600.0", "B = 500.0")
    assert "warning.by_grade.D: expected one of green, yellow, orange, red, found 'amber'" in _bad(
        tmp_path, 'D = "orange"', 'D = "amber"')
    assert "(file): expected valid UTF-8 TOML" in _bad(tmp_path, "[grades]", "[grades")
    assert "subscores.data_integrity.cap: expected this key" in _bad(
        tmp_path, "[subscores.data_integrity]\ncap = 1.4", "[subscores.data_integrity]")
    known = {**all_rules(), "test_rule": _R}
    assert "rules.test_rul: expected a registered rule id (" in _bad(
        tmp_path, "[rules]", "[rules.test_rul]\nz_threshold = 4.0", known)
    assert "rules.test_rule.z_treshold: expected one of the rule's parameters (min_days, z_threshold)" in _bad(
        tmp_path, "[rules]", "[rules.test_rule]\nz_treshold = 4.0", known)
    assert "rules.test_rule.min_days: expected a value of the default's type" in _bad(
        tmp_path, "[rules]", '[rules.test_rule]\nmin_days = "7"', known)
    assert "reasons.test_rule.code: expected two capitals and two digits" in _bad(
        tmp_path, "[reasons]\n", '[reasons]\ntest_rule = { code = "P1", text = "x" }\n', known)
    assert "reasons.mes_vs_camera.code: expected a code not already used by test_rule, found 'PA01'" in _bad(
        tmp_path, "[reasons]\n", '[reasons]\ntest_rule = { code = "PA01", text = "x" }\n', known)


def test_rule_params_override_defaults(tmp_path: Path) -> None:
    p = tmp_path / "sc.toml"
    p.write_text(shipped_path("scorecard-v1").read_text().replace("[rules]", "[rules.test_rule]\nmin_days = 10"))
    cfg = load_config(p, {**all_rules(), "test_rule": _R})
    assert cfg.params_for("test_rule", _R.defaults) == {"z_threshold": 3.0, "min_days": 10}
    assert cfg.params_for("other", {"a": 1}) == {"a": 1}
    assert cfg.sha256 != load_config().sha256


def test_config_hash_ignores_comments_but_not_values(tmp_path: Path) -> None:
    base = load_config()
    p = tmp_path / "sc.toml"
    p.write_text("# a new comment\n" + shipped_path("scorecard-v1").read_text())
    assert load_config(p).sha256 == base.sha256
    p.write_text(shipped_path("scorecard-v1").read_text().replace("red = 1.2", "red = 1.3"))
    assert load_config(p).sha256 != base.sha256


def test_per_rule_weight_and_cap(tmp_path: Path) -> None:
    p = tmp_path / "sc.toml"
    p.write_text(shipped_path("scorecard-v1").read_text()
                 .replace("[rule_weights]\n", "[rule_weights]\nr_half = 0.5\n")
                 .replace("[rule_caps]\n", "[rule_caps]\nr_small = 0.3\n"))
    cfg = load_config(p)
    half = score_card(cfg, [finding(rule="r_half")], ENOUGH)
    assert 640 - half["score"] == pytest.approx(0.6 * cfg.factor, abs=1e-3)  # red 1.2 x 0.5
    small = score_card(cfg, [finding(rule="r_small", key=f"k{i}") for i in range(3)], ENOUGH)
    assert 640 - small["score"] == pytest.approx(0.3 * cfg.factor, abs=1e-3)
    assert small["subscores"]["production_authenticity"]["rules"]["r_small"]["rule_cap"] == 0.3
    with pytest.raises(ConfigError, match="rule_weights.r_half: expected a number >= 0"):
        p.write_text(shipped_path("scorecard-v1").read_text().replace("[rule_weights]\n",
                                                                      "[rule_weights]\nr_half = -1\n"))
        load_config(p)


def test_the_worked_example_in_docs_scoring(cfg) -> None:
    """docs/scoring.md, "Worked example": the same findings give the numbers printed there."""
    fs = [finding(rule="mes_vs_camera", days=3),
          finding(rule="changepoints", severity="yellow", subscore="operating_stability", days=1)]
    card = score_card(cfg, fs, ENOUGH)
    assert card["score"] == pytest.approx(595.85, abs=0.005)
    assert card["odds"] == pytest.approx(43.3, abs=0.05)
    assert card["subscores"]["production_authenticity"]["points"] == pytest.approx(39.24, abs=0.005)
    assert card["subscores"]["operating_stability"]["points"] == pytest.approx(37.80, abs=0.005)
    assert (card["grade"], card["warning_level"]) == ("C", "red")
    assert [(r["code"], round(r["points_lost"], 2)) for r in card["reasons"]] == [("PA01", 41.55), ("OS01", 2.60)]
