"""The receiver's CLI (``edgeproof cloud ...`` / ``feed ...``) in English and in Chinese, chosen by the environment.

Real processes (``python -m cloud_stub``) on a real SQLite receiver database: the language is read once, from
LANGUAGE / LC_ALL / LC_MESSAGES / LANG, so the help texts (evaluated at import) follow it too. ``--json``
outputs are contracts and must not change with the language.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cloud_stub import i18n

REPO = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
LANG_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def run(*args: str, lang: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in LANG_VARS}
    env.update(lang)
    proc = subprocess.run([sys.executable, "-m", "cloud_stub", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}: {proc.stderr}")
    return proc


ZH = {"LANGUAGE": "zh_CN"}
EN = {"LANGUAGE": "en"}


def test_receiver_commands_speak_chinese_under_zh_cn(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    run("token", "--db", db, "--enterprise", "ent-1", lang=ZH)  # the enterprise exists from here on

    added = run("bank", "add", "--db", db, "--name", "bank-a", "--enterprise", "ent-1", lang=ZH)
    assert added.stdout.strip(), "the bank's token is printed, whatever the language"
    assert "提示：企业网关没有已签名的授权同意记录" in added.stderr, added.stderr

    consent = run("consent", "--db", db, "--enterprise", "ent-1", lang=ZH).stdout
    assert consent.startswith("bank-a：授权 *；同意 -；提供 "), consent

    fleet = run("gateways", "--db", db, lang=ZH).stdout.splitlines()
    assert fleet[0].split() == ["网关", "企业", "状态", "最后联系", "序号", "版本", "密钥", "设备正常", "时钟", "积压",
                                "存储"]
    assert fleet[-1] == "0 个网关：在线 0，延迟 0，静默 0，已吊销 0"
    assert run("findings", "--db", db, lang=ZH).stdout.strip() == "没有发现"

    bad = run("analyse", "--db", db, lang=ZH, check=False)
    assert bad.returncode == 2 and "请只提供 --enterprise ID 或 --all 中的一个" in bad.stderr, bad.stderr

    # The same commands in English, and --json unchanged by the language (keys and codes are contracts).
    assert run("findings", "--db", db, lang=EN).stdout.strip() == "no findings"
    args = ("consent", "--db", db, "--enterprise", "ent-1", "--json")
    zh_json = run(*args, lang=ZH).stdout
    assert json.loads(zh_json) == json.loads(run(*args, lang=EN).stdout)
    assert json.loads(zh_json)["grants"][0]["bank"] == "bank-a" and not CJK.search(zh_json)


def test_lang_variable_chooses_and_c_locale_means_english(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    assert run("scores", "--db", db, "--enterprise", "e", lang={"LANG": "zh_CN.UTF-8"}).stdout.strip() == \
        "企业 e 没有评分"
    assert run("scores", "--db", db, "--enterprise", "e", lang={"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}).stdout \
        .strip() == "no scores for e"
    assert run("feed", "verify", "--help", lang={"LANGUAGE": "fr:zh_CN"}).stdout.count("仅校验此企业") == 1


def test_every_command_and_option_help_is_translated() -> None:
    """Help is evaluated at import, in the environment's language: walk every receiver command under zh_CN."""
    script = """
import click, json, re
from cloud_stub.cli import cloud, feed
cjk = re.compile(r"[\\u4e00-\\u9fff]")
missing = []
def walk(cmd, path):
    if not cjk.search(cmd.help or ""):
        missing.append(path)
    for p in cmd.params:
        if isinstance(p, click.Option) and p.help and not cjk.search(p.help):
            missing.append(f"{path} {p.opts[0]}")
    for name, sub in getattr(cmd, "commands", {}).items():
        walk(sub, f"{path} {name}")
walk(cloud, "cloud")
walk(feed, "feed")
print(json.dumps(missing))
"""
    env = {k: v for k, v in os.environ.items() if k not in LANG_VARS}
    env.update(ZH)
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert json.loads(out) == []


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, None),
    ({"LANG": "zh_CN.UTF-8"}, "zh-CN"),
    ({"LANGUAGE": "fr:zh_CN", "LANG": "en_US.UTF-8"}, "zh-CN"),
    ({"LANGUAGE": "fr", "LANG": "zh_CN.UTF-8"}, "zh-CN"),
    ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, None),
    ({"LC_MESSAGES": "zh_TW.UTF-8"}, None),
    ({"LANG": "zh_CN.UTF-8@pinyin"}, "zh-CN"),
    ({"LANGUAGE": "en_GB"}, "en"),
])
def test_from_env_reads_gettexts_variables(environ: dict[str, str], expected: str | None) -> None:
    assert i18n.from_env(environ) == expected


def test_table_padding_counts_chinese_as_two_columns() -> None:
    assert i18n.display_width("网关") == 4
    assert i18n.pad("网关", 7) == "网关   "
    assert i18n.pad("GATEWAY", 4) == "GATEWAY"


def test_findings_are_listed_in_words_in_the_operators_language(receiver) -> None:
    """A real chain finding (an equivocation raised by ingest), listed by ``cloud findings`` in both languages."""
    from cloud_helpers import FakeGateway

    gw = FakeGateway("gw-i18n", "ent-i18n")
    receiver.enroll(gw)
    assert receiver.post(gw.next(records=[]).envelope())[1]["status"] == "accepted"
    status, res = receiver.post(gw.make(seq=1, prev=gw.prev, records=[]).envelope())
    assert (status, res["code"]) == (409, "equivocation")
    db = str(receiver.db_path)
    zh = run("findings", "--db", db, "--enterprise", "ent-i18n", lang=ZH).stdout.splitlines()
    assert "equivocation" in zh[0] and zh[1].strip() == "网关对同一序号签发了两个不同的批次。", zh
    en = run("findings", "--db", db, "--enterprise", "ent-i18n", lang=EN).stdout.splitlines()
    assert en[0] == zh[0] and en[1].strip() == "The gateway signed two different batches with the same sequence number."
