"""Errors a person reads come out in their language, still naming the file, key, line and column; click's own
words (Usage:, Options:, Error: Missing option ...) too, for every command of the `edgeproof` process.

Each case drives the real CLI in a subprocess under LANG=zh_CN.UTF-8 and under LANG=C (docs/i18n.md): a broken
profile, a gateway that is not initialised, a probe of devices that are not there, a bad replay CSV, a
dispute with a bad finding hash, a missing option, a bad option value, and the receiver's `cloud` group.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import i18n

ROOT = Path(__file__).resolve().parent.parent.parent
ZH = {"LANG": "zh_CN.UTF-8"}
EN = {"LANG": "C"}


def cli(*args: str, lang: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in i18n.ENV_VARS}
    env.update(lang, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def test_click_own_words_follow_the_language():
    zh, en = cli("--help", lang=ZH).stdout, cli("--help", lang=EN).stdout
    assert "用法:" in zh and "选项" in zh and "显示本帮助并退出。" in zh and "Usage:" not in zh
    assert "Usage:" in en and "Options:" in en and "Show this message and exit." in en and not has_cjk(en)

    missing = cli("enroll", "--receiver", "http://127.0.0.1:9", lang=ZH)
    assert missing.returncode == 2
    assert "错误：缺少选项 '--token'" in missing.stderr and "enroll --help' 查看帮助。" in missing.stderr
    assert "Error: Missing option '--token'" in cli("enroll", "--receiver", "http://127.0.0.1:9", lang=EN).stderr

    bad = cli("vision", "detect", "--threads", "99", "x.png", lang=ZH)
    assert bad.returncode == 2 and "'--threads' 的值无效：99 不在范围 1<=x<=16 内。" in bad.stderr, bad.stderr
    assert "Invalid value for '--threads': 99 is not in the range" in cli(
        "vision", "detect", "--threads", "99", "x.png", lang=EN).stderr

    unknown = cli("probe", "--bogus", lang=ZH)
    assert "错误：没有选项 '--bogus'。" in unknown.stderr


def test_the_receivers_groups_share_the_mechanism():
    # `cloud` is the receiver's group (cloud_stub): its help text comes from its own catalog, click's words
    # around it from the gateway's `click` domain, installed once for the whole process.
    pytest.importorskip("fastapi")
    zh = cli("cloud", "--help", lang=ZH)
    assert zh.returncode == 0 and "用法: " in zh.stdout and " cloud [OPTIONS]" in zh.stdout and "选项" in zh.stdout


def test_broken_profile_names_file_and_key_in_chinese(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[site]\nid = "x"\n[[devices]]\nname = 5\n')
    zh = cli("probe", "--profile", str(bad), lang=ZH)
    en = cli("probe", "--profile", str(bad), lang=EN)
    assert zh.returncode == en.returncode == 1
    expected = f"错误：配置文件错误：{bad}：devices[0].name：应为 `str` 类型，实际为 `int`（当前填写：5）"
    assert expected in zh.stderr, zh.stderr
    assert f"Error: profile error: {bad}: devices[0].name: Expected `str`, got `int` (found 5)" in en.stderr

    # A key the schema does not know and a TOML syntax error: the file and the key, the explanation translated.
    bad.write_text('[site]\nid = "x"\ncolour = "red"\n')
    zh = cli("probe", "--profile", str(bad), lang=ZH).stderr
    assert f"{bad}：site.colour：含有未知的键 `colour`" in zh, zh
    bad.write_text('[site\nid = "x"\n')
    zh = cli("probe", "--profile", str(bad), lang=ZH).stderr
    assert f"{bad}：(syntax)：有效的 TOML（" in zh and "line 1" in zh, zh


def test_a_driver_check_at_load_time_in_chinese(tmp_path):
    prof = tmp_path / "rtu.toml"
    text = (ROOT / "hardware_profiles" / "rpi4-rs485.toml").read_text()
    prof.write_text(text.replace("unit_id = 1\n", "unit_id = 0\n", 1))
    zh = cli("probe", "--profile", str(prof), lang=ZH).stderr
    assert ".unit_id：从站地址 1..247（0 为广播地址，从不应答）" in zh and str(prof) in zh, zh


def test_probe_of_absent_devices_in_chinese():
    # rpi4-rs485 without --simulate on a machine without its RS485 HAT: the serial port is not there.
    zh = cli("probe", "--profile", "rpi4-rs485", "--no-simulate", "--device", "main-meter", lang=ZH)
    en = cli("probe", "--profile", "rpi4-rs485", "--no-simulate", "--device", "main-meter", lang=EN)
    assert zh.returncode == en.returncode == 1
    assert "读写错误：无法打开串口 '/dev/ttySC0'" in zh.stdout and "读写错误=1" in zh.stdout, zh.stdout
    assert "io: cannot open serial port '/dev/ttySC0'" in en.stdout and "io=1" in en.stdout


def test_not_initialised_run_says_what_to_run(tmp_path):
    zh = cli("run", "--state", str(tmp_path / "st"), "--profile", "sim-factory", lang=ZH)
    assert zh.returncode != 0 and "没有密钥" in zh.stderr and "edgeproof init" in zh.stderr
    assert "Traceback" not in zh.stderr


def test_bad_replay_csv_names_file_line_and_column_in_chinese(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "press-1-meter.csv").write_text("timestamp,import_kwh,power_total\n1788739200,1,2\n1788739500,1.5,n/a\n")
    args = ("replay", "--profile", "sim-history", "--data", str(data), "--state", str(tmp_path / "st"))
    zh, en = cli(*args, lang=ZH), cli(*args, lang=EN)
    assert zh.returncode == en.returncode == 1
    where = f"{data / 'press-1-meter.csv'}:3"
    assert f"错误：回放数据有误：{where}：列 'power_total'：不是数字：'n/a'" in zh.stderr, zh.stderr
    assert f"Error: bad replay data: {where}: column 'power_total': not a number: 'n/a'" in en.stderr, en.stderr


def test_bad_dispute_names_the_option_in_chinese(tmp_path):
    args = ("dispute", "add", "--finding", "abc", "--kind", "contest", "--note", "wrong", "--state",
            str(tmp_path / "st"))
    zh = cli(*args, lang=ZH)
    assert zh.returncode == 2
    assert "错误：--finding 的值无效：发现的哈希：64 位十六进制字符" in zh.stderr and "（实际为 'abc'）" in zh.stderr
    assert "Invalid value for --finding: the finding's hash: 64 hex characters" in cli(*args, lang=EN).stderr


def test_profile_site_locale_turns_click_words_chinese_too(tmp_path):
    # LANG=C names no language: the profile's site.locale decides, for our messages and click's "Error:".
    prof = tmp_path / "site.toml"
    text = (ROOT / "hardware_profiles" / "sim-factory.toml").read_text()
    prof.write_text(text.replace("[site]\n", '[site]\nlocale = "zh-CN"\n', 1))
    args = ("import-erp", "--profile", str(prof), "--state", str(tmp_path / "st"), "--connector", "nosuch")
    res = cli(*args, lang=EN)
    assert res.returncode == 1 and res.stderr.startswith("错误：没有连接器 ['nosuch']"), res.stderr
    assert cli(*args, lang={"LANG": "en_GB.UTF-8"}).stderr.startswith("Error: no connector ['nosuch']")


def test_evidence_verify_failures_in_chinese(tmp_path):
    bundle = tmp_path / "evidence.tar"
    bundle.write_bytes(b"not a tar archive")
    zh = cli("evidence", "verify", str(bundle), lang=ZH)
    assert zh.returncode == 1 and f"{bundle}：不是可读取的 tar 压缩包（" in zh.stderr, zh.stderr
    en = cli("evidence", "verify", "--json", str(bundle), lang=ZH)  # --json keeps the English failures
    assert f"{bundle}: not a readable tar archive (" in en.stdout
