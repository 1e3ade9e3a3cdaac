"""The receiver's error texts and status words in the operator's language (``edgeproof cloud ...`` / ``feed ...``).

Real processes (``python -m cloud_stub``) on a real SQLite receiver database. An error is raised once, in English
(``ReceiverError(code, msg(...))``: HTTP bodies and logs keep the English); the CLI renders it through the catalog.
Status words that read differently by what they are about go through ``pgettext`` (cloud_stub/status_text.py).
"""

from __future__ import annotations

import ast
import json
import re
import string
from pathlib import Path

from cloud_helpers import FakeGateway, http
from test_enterprise_view import _findings_chain_with_dispute

from cloud_stub import disputes, i18n, status_text
from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import issue_token
from cloud_stub.errors import ReceiverError
from cloud_stub.outside.store import add_source
from cloud_stub.texts import msg
from tests.support.receiver_cli import CJK, EN, REPO, ZH
from tests.support.receiver_cli import receiver_cli as run


def test_cloud_command_errors_speak_the_operators_language(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    rdb = ReceiverDB(db)
    try:
        issue_token(rdb, "ent-1")  # the enterprise exists from here on
        add_source(rdb, "erp", None)
    finally:
        rdb.close()
    bad_cats = ("bank", "add", "--db", db, "--name", "bank-a", "--enterprise", "ent-1", "--categories", "*,energy")
    zh = run(*bad_cats, lang=ZH)
    assert zh.returncode == 1, zh.stderr
    assert zh.stderr.strip() == "错误：bad_request：categories：'*' 不能与具体类别同时使用", zh.stderr
    en = run(*bad_cats, lang=EN)
    assert en.stderr.strip() == "error: bad_request: categories: '*' cannot be combined with named categories"

    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    restore = run("restore", "--from", str(not_a_backup), "--db", str(tmp_path / "new.db"), lang=ZH)
    assert restore.returncode == 1 and f"{not_a_backup}：不是 EdgeProof 接收端备份（" in restore.stderr, restore.stderr

    # An outside record naming a kind that does not exist: the file, the key and what was expected, in Chinese
    # (the "expected" part is a msg of its own).
    records = tmp_path / "erp.json"
    records.write_text(json.dumps([{"source": "erp", "kind": "bogus", "enterprise_id": "ent-1",
                                    "date": "2026-11-01", "data": {}}]))
    imp = run("outside", "import", "--db", db, "--source", "erp", str(records), lang=ZH)
    assert imp.returncode == 2, imp.stderr
    assert imp.stderr.strip() == f"错误：{records} 第 1 条记录：kind：应为 registry, penalty, court, tax, news 之一，" \
                                 "实际为 'bogus'（未导入任何内容）", imp.stderr

    # feed verify's state file, checked before anything is fetched
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"v": 7}))
    bad_state = run("feed", "verify", "--url", "http://127.0.0.1:9", "--token", "t", "--state", str(state), lang=ZH)
    assert bad_state.returncode == 2 and f"错误：{state}：键 'v'：应为 1，实际为 7" in bad_state.stderr, \
        bad_state.stderr


def test_dispute_status_and_a_banks_decision_are_different_words(receiver) -> None:
    """``rejected`` as a dispute's status is 已驳回; the bank's decision beside it reads 驳回 (pgettext contexts)."""
    gw = FakeGateway("gw-1", "ent-d")
    receiver.enroll(gw)
    _findings_chain_with_dispute(receiver, gw)
    disputes.decide(receiver.rdb, receiver.key, "bank-e", "ent-d", "gw-1", 1, "rejected", "the meter log shows it")
    db = str(receiver.db_path)
    zh = run("dispute", "list", "--db", db, "--enterprise", "ent-d", lang=ZH).stdout
    assert "：已驳回（bank-e 驳回：the meter log shows it）" in zh, zh
    en = run("dispute", "list", "--db", db, "--enterprise", "ent-d", lang=EN).stdout
    assert ": rejected (bank-e rejected: the meter log shows it)" in en, en
    as_json = [run("dispute", "list", "--db", db, "--enterprise", "ent-d", "--json", lang=lang).stdout
               for lang in (ZH, EN)]
    assert as_json[0] == as_json[1] and json.loads(as_json[0])[0]["status"] == "rejected"

    fleet = run("gateways", "--db", db, lang=ZH).stdout.splitlines()
    row = next(ln for ln in fleet if ln.startswith("gw-1 "))
    assert row.split()[2] == "在线", fleet  # English: "online" (the code; tests/cloud/test_fleet.py)


def test_contexts_give_distinct_words() -> None:
    before = i18n.get_locale()
    try:
        i18n.set_locale("zh-CN")
        assert status_text.dispute_status("rejected") == "已驳回" != status_text.dispute_decision("rejected")
        assert status_text.dispute_status("accepted") == "已采纳" and status_text.dispute_decision("accepted") == "采纳"
        assert status_text.gateway_state("late") == "延迟" and status_text.covenant_status("breached") == "已违反"
        assert status_text.coverage_level("ok") == "充足" and status_text.warning_level("green") == "绿色"
        assert status_text.coverage_level("not_observed") == status_text.covenant_status("not_observed") == "未观测"
        assert status_text.dispute_status("some_new_code") == "some_new_code"  # shown as it is, never lost
        i18n.set_locale("en")
        assert status_text.dispute_decision("rejected") == status_text.dispute_status("rejected") == "rejected"
    finally:
        i18n.set_locale(before)


def test_a_receiver_error_is_english_for_http_and_logs_and_translated_for_the_cli() -> None:
    exc = ReceiverError("unknown_bank", msg("no bank {bank_id}", bank_id="'b'"), 404)
    assert str(exc) == "unknown_bank: no bank 'b'" and exc.to_json()["message"] == "no bank 'b'"
    assert json.dumps(exc.to_json()) == '{"status": "rejected", "code": "unknown_bank", "message": "no bank \'b\'"}'
    from cloud_stub.texts import render
    assert render(exc, i18n.gettext_for("zh-CN")) == "unknown_bank: 没有银行 'b'"


def test_the_http_api_keeps_english_bodies(receiver) -> None:
    status, body = http("GET", f"{receiver.url}/v1/feed/ent-1/records", token="not-a-token")
    assert status == 401 and body["message"] == "unknown bank token" and not CJK.search(json.dumps(body))


def test_every_msg_template_is_a_literal_whose_placeholders_are_its_arguments() -> None:
    """``msg("...", **params)`` everywhere in cloud_stub: extractable (a literal), and what it names it is given
    (a mismatch would raise at the moment an error is reported, the worst time)."""
    wrong, n = [], 0
    for path in sorted((REPO / "cloud_stub").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "msg":
                n += 1
                first = node.args[0] if node.args else None
                where = f"{path.relative_to(REPO)}:{node.lineno}"
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    wrong.append(f"{where}: not a literal")
                    continue
                try:
                    names = {f for _, f, _, _ in string.Formatter().parse(first.value) if f is not None}
                except ValueError as exc:
                    wrong.append(f"{where}: {exc}")
                    continue
                if names != {k.arg for k in node.keywords}:
                    wrong.append(f"{where}: placeholders {sorted(names)}, arguments "
                                 f"{sorted(str(k.arg) for k in node.keywords)}")
    assert n > 300 and wrong == [], wrong


# Receiver exceptions and the argument that holds their message (ReceiverError(code, message, ...), ...).
EXCEPTIONS = {"ReceiverError": 1, "AnalysisError": 1, "RepaymentError": 1, "RepaymentRescoreError": 1,
              "BackupError": 0, "StateError": 0, "MoveError": 0, "TimestampError": 0, "InstallError": 0,
              "RecordError": 2, "ConfigError": 2}
# Modules whose errors only ever reach an HTTP body (English by contract, docs/i18n.md). (repayment/ and
# coverage_run.py are covered: `cloud score`, `cloud rescore` and `cloud coverage run` print their errors.)
ENGLISH_ONLY = {"feed.py", "http_api.py", "disputes.py", "enterprise_view.py", "fleet_api.py", "updates_api.py"}


def _plain_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr | ast.BinOp) or isinstance(node, ast.Constant) and isinstance(node.value, str)


def test_receiver_exception_messages_are_msg_outside_the_http_only_modules() -> None:
    """A new ``raise ReceiverError("code", f"...")`` in a module the CLI reaches would print English to a Chinese
    operator: it fails here (use ``msg``, docs/i18n.md)."""
    plain, n = [], 0
    for path in sorted((REPO / "cloud_stub").rglob("*.py")):
        rel = path.relative_to(REPO / "cloud_stub").as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            idx = EXCEPTIONS.get(name or "")
            if idx is None or len(node.args) <= idx:
                continue
            n += 1
            if _plain_text(node.args[idx]) and rel not in ENGLISH_ONLY:
                plain.append(f"cloud_stub/{rel}:{node.lineno}")
    assert n > 200 and plain == [], plain


def test_coverage_skip_reasons_and_repayment_errors_read_in_chinese(tmp_path: Path) -> None:
    """`cloud coverage run` prints why a facility was skipped, `cloud rescore` a repayment table that changed: the
    English stays the JSON's bytes, the CLI renders it (cloud_stub.i18n.text)."""
    from cloud_stub.coverage_run import not_served
    from cloud_stub.repayment.config import load_repayment_config
    from cloud_stub.scoring.config import ConfigError
    from cloud_stub.texts import render

    zh = i18n.gettext_for("zh-CN")
    fac = {"pledges": [{"indicator": "collateral.weight_kg"}]}
    for why, english in ((not_served(fac, None), "the enterprise does not serve this bank"),
                         (not_served(fac, ["energy"]), "the bank is not granted the categories ['collateral']")):
        assert why is not None and str(why).startswith(english) and json.dumps(why) == json.dumps(str(why))
        assert CJK.search(render(why, zh)) and "bank" not in render(why, zh), render(why, zh)
    bad = REPO / "cloud_stub" / "repayment" / "repayment-v1.toml"
    text = bad.read_text(encoding="utf-8").replace('version = "repayment-v1"', 'version = "Repayment V1"', 1)
    assert text != bad.read_text(encoding="utf-8")
    path = tmp_path / "repayment-x.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_repayment_config(path)
    except ConfigError as exc:
        assert "expected a plain lower-case name such as 'repayment-v1'" in str(exc)
        assert "简单的小写名称" in render(exc, zh), render(exc, zh)
    else:
        raise AssertionError("a bad repayment.version was accepted")


_WORDS = re.compile(r"[A-Za-z]{2,} | [A-Za-z]{2,}")  # an English word beside a space (prose), not a code
_CLICK = {"echo", "secho", "ClickException", "BadParameter", "UsageError"}
_GETTEXT = {"_", "N_", "pgettext", "ngettext", "msg", "text", "render"}


def _printed_english(tree: ast.AST) -> list[int]:
    """Lines where click prints a literal English phrase that is not inside ``_()`` / ``msg()`` / ``text()``."""
    out = []
    for node in ast.walk(tree):
        f = node.func if isinstance(node, ast.Call) else None
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        if name not in _CLICK or not node.args:  # type: ignore[union-attr]
            continue
        arg = node.args[0]  # type: ignore[union-attr]
        inside = {id(w) for c in ast.walk(arg) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
                  and c.func.id in _GETTEXT for w in ast.walk(c)}
        if any(isinstance(v, ast.Constant) and isinstance(v.value, str) and id(v) not in inside
               and _WORDS.search(v.value) for v in ast.walk(arg)):
            out.append(node.lineno)  # type: ignore[union-attr]
    return out


def test_the_receiver_cli_prints_no_english_outside_the_catalog() -> None:
    """`edgeproof cloud ...` / `feed ...`: an f-string or sentence echoed as is fails here (the gateway's CLI has the
    same rule in tests/test_user_error_guard.py); a planted one is caught."""
    found = {f"cloud_stub/{p.relative_to(REPO / 'cloud_stub').as_posix()}:{ln}"
             for p in sorted((REPO / "cloud_stub").rglob("*.py"))
             for ln in _printed_english(ast.parse(p.read_text(encoding="utf-8")))}
    assert found == set(), sorted(found)
    planted = 'click.echo(f"no bank {b} found")\nclick.echo(_("no bank {b}").format(b=b))\nclick.echo(json.dumps(x))'
    assert _printed_english(ast.parse(planted)) == [1]
