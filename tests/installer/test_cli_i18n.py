"""The gateway's CLI in English and Chinese: help, selftest, probe, status, chosen by the environment
(LANGUAGE / LC_ALL / LANG) or the profile's ``site.locale``; the JSON outputs stay the same keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import i18n

ROOT = Path(__file__).resolve().parent.parent.parent


def cli(*args: str, lang: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in i18n.ENV_VARS}
    env.update(lang, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=cwd)


ZH = {"LANG": "zh_CN.UTF-8"}
EN = {"LANG": "C.UTF-8"}


def test_help_in_both_languages():
    assert "signed production indicators from factory gateways" in cli("--help", lang=EN).stdout
    zh = cli("--help", lang=ZH).stdout
    assert "来自工厂网关的签名生产指标" in zh
    probe = cli("probe", "--help", lang={"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}).stdout
    assert "逐个读取已配置的设备一次" in probe and "只探测此设备" in probe


def test_selftest_says_what_to_do_in_chinese(tmp_path):
    en = cli("selftest", "--offline", "--state", str(tmp_path / "st"), lang=EN)
    zh = cli("selftest", "--offline", "--state", str(tmp_path / "st"), lang=ZH)
    assert en.returncode == zh.returncode == 1
    assert "selftest FAILED" in en.stdout and "run `edgeproof init`" in en.stdout
    assert "自检未通过" in zh.stdout and "-> 运行 `edgeproof init`" in zh.stdout and "密钥" in zh.stdout
    # --json keeps its keys and stable check names whatever the language.
    doc = json.loads(cli("selftest", "--offline", "--json", "--state", str(tmp_path / "st"), lang=ZH).stdout)
    assert {c["name"] for c in doc["checks"]} >= {"profile", "key", "enrollment", "disk", "clock"}


def test_probe_table_in_chinese_lines_up():
    res = cli("probe", "--profile", "sim-factory", "--simulate", "--device", "press-1-meter", lang=ZH)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    assert lines[0].split()[:8] == ["设备", "驱动", "型号", "测点", "数值", "单位", "质量", "延迟"]
    assert "正常" in res.stdout and "1 台设备中 1 台有应答（仿真设备）" in res.stdout
    # The columns line up in terminal cells (a CJK character is two wide).
    value_col = [i18n_width(line[: line.index("229") if "229" in line else 0]) for line in lines[1:4]]
    assert len(set(value_col) - {0}) <= 1


def i18n_width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_status_without_a_gateway_in_chinese(tmp_path):
    res = cli("status", "--state", str(tmp_path / "none"), lang=ZH)
    assert res.returncode == 3 and "未找到运行中的网关" in res.stderr


def test_profile_site_locale_applies_unless_the_environment_names_a_language(tmp_path):
    prof = tmp_path / "site.toml"
    text = (ROOT / "hardware_profiles" / "sim-factory.toml").read_text()
    prof.write_text(text.replace("[site]\n", '[site]\nlocale = "zh-CN"\n', 1))
    args = ("selftest", "--offline", "--profile", str(prof), "--state", str(tmp_path / "st"))
    assert "自检未通过" in cli(*args, lang={"LANG": "C"}).stdout
    assert "selftest FAILED" in cli(*args, lang={"LANG": "en_GB.UTF-8"}).stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("[site]\n", '[site]\nlocale = "klingon"\n', 1))
    res = cli("selftest", "--offline", "--profile", str(bad), "--state", str(tmp_path / "st"), lang=EN)
    assert "bad.toml: site: locale must be one of en, zh-CN (found 'klingon')" in res.stdout


@pytest.mark.parametrize(("env", "want"), [
    ({"LANGUAGE": "zh_CN:en"}, "zh-CN"), ({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh-CN"),
    ({"LANG": "zh_TW.UTF-8"}, None), ({"LANG": "C.UTF-8"}, None), ({"LANGUAGE": "fr", "LANG": "zh_CN"}, "zh-CN"),
    ({"LC_MESSAGES": "en_US", "LANG": "zh_CN"}, "en"), ({}, None),
])
def test_locale_from_the_environment(env, want):
    assert i18n.from_env(env) == want


@given(st.text(max_size=200))
def test_accept_language_never_fails_and_names_only_what_we_have(header):
    assert i18n.from_accept_language(header) in (None, *i18n.SUPPORTED)
    assert i18n.resolve(header) in i18n.SUPPORTED


def test_accept_language_ranks_by_q():
    assert i18n.from_accept_language("en;q=0.4, zh-CN;q=0.9") == "zh-CN"
    assert i18n.from_accept_language("zh-TW, zh;q=0.8, en;q=0.9") == "en"
    assert i18n.from_accept_language("zh-Hans-CN") == "zh-CN"
    assert i18n.from_accept_language("zh-CN;q=0") is None


def test_newly_wrapped_commands_speak_chinese(tmp_path):
    """certificate, replay and demo (wrapped after the first wave) answer in the environment's language."""
    bad = tmp_path / "cert.json"
    bad.write_text("{}", encoding="utf-8")
    en = cli("certificate", "verify", str(bad), lang=EN)
    zh = cli("certificate", "verify", str(bad), lang=ZH)
    assert en.returncode == zh.returncode == 1
    assert "not a valid destruction certificate" in en.stderr
    assert "不是有效的销毁证明" in zh.stderr and "not a valid" not in zh.stderr
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x", encoding="utf-8")
    gen = ["replay", "generate", "--scenario", "honest", "--days", "1", "--out", str(full)]
    assert "is not empty: generate into a new folder" in cli(*gen, lang=EN).stderr
    zh = cli(*gen, lang=ZH)
    assert zh.returncode != 0 and "不为空：请生成到新目录" in zh.stderr
    demo = cli("demo", "--help", lang=ZH).stdout
    assert "在本机运行 sim-factory、接收端和一次银行拉取" in demo and "网关运行时长" in demo


def test_warning_level_meanings_reach_the_page_catalog():
    """The status page's script translates the view's warning_text (English data) from the served catalog."""
    from gateway.enterprise_view.plain import LEVELS

    served = i18n.catalog("zh-CN")
    assert all(served.get(text) for text in LEVELS.values()), [t for t in LEVELS.values() if t not in served]
    assert "_(v.warning_text)" in (ROOT / "gateway" / "status" / "page.js").read_text(encoding="utf-8")
