"""A bank's risk officer reads ``feed verify``'s failures in Chinese; the JSON stays the same bytes.

A real receiver (the ``receiver`` fixture: FastAPI over loopback, SQLite) is tampered with the way a
dishonest operator would (a record edited, a batch deleted from the middle of a chain), then
``python -m cloud_stub feed verify`` runs as a process under ``LANG=zh_CN.UTF-8`` and under English.
The guard at the end fails when a new verifier failure is reported as a plain (untranslatable) string.
"""

from __future__ import annotations

import ast
import copy
import json
import pickle
import re
import sys
from typing import Any

from cloud_helpers import FakeGateway
from hypothesis import given
from hypothesis import strategies as st
from test_bank_api import CONSENT, energy

from cloud_stub import i18n
from cloud_stub.banks import add_bank
from cloud_stub.texts import Joined, Msg, msg, render
from gateway import wire
from tests.support.receiver_cli import CJK, EN, REPO, ZH
from tests.support.receiver_cli import receiver_cli as cli


def _tampered(receiver) -> dict[str, Any]:
    """gw-zh's chain of five batches; record 2 edited, the batch at seq 3 deleted (with its records)."""
    gw = FakeGateway("gw-zh", "ent-zh")
    receiver.enroll(gw)
    for i in range(5):
        status, out = receiver.post(gw.next(records=[CONSENT, energy(i)] if i == 0 else [energy(i)]).envelope())
        assert status == 200, out
    token = add_bank(receiver.rdb, "bank-zh", "ent-zh")["token"]
    with receiver.rdb.write() as conn:
        rid = conn.execute("SELECT id FROM records WHERE gateway_id = 'gw-zh' AND seq = 2").fetchone()[0]
        conn.execute("UPDATE records SET record = replace(record, '10.0', '99.0') WHERE id = ?", (rid,))
        h3 = conn.execute("SELECT hash FROM batches WHERE gateway_id = 'gw-zh' AND seq = 3").fetchone()[0]
        conn.execute("DELETE FROM records WHERE batch_hash = ?", (h3,))
        conn.execute("DELETE FROM batches WHERE hash = ?", (h3,))
        h4 = conn.execute("SELECT hash FROM batches WHERE gateway_id = 'gw-zh' AND seq = 4").fetchone()[0]
    return {"token": token, "record": rid, "h4": h4}


def test_feed_verify_names_the_tampering_in_chinese_and_its_json_does_not_change(receiver) -> None:
    t = _tampered(receiver)
    args = ("feed", "verify", "--url", receiver.url, "--enterprise", "ent-zh", "--token", t["token"])
    zh = cli(*args, lang=ZH)
    assert zh.returncode == 1, zh.stdout + zh.stderr
    # The gateway, the seq and the record are named, in Chinese sentences.
    assert f"  失败 记录 {t['record']}（批次 " in zh.stdout and "：记录与已签名批次不一致" in zh.stdout, zh.stdout
    assert f"  失败 网关 gw-zh 序号 4（批次 {t['h4'][:16]}）：序号 3..3 缺失，且未声明丢弃" in zh.stdout, zh.stdout
    fails = [ln for ln in zh.stdout.splitlines() if ln.startswith("  失败 ")]
    assert fails and all(CJK.search(ln[5:]) for ln in fails), fails
    assert "differs from the signed batch" not in zh.stdout and "not declared dropped" not in zh.stdout

    en = cli(*args, lang=EN)
    assert en.returncode == 1
    assert f"  FAIL gateway gw-zh seq 4 (batch {t['h4'][:16]}): seq 3..3 missing, not declared dropped" in en.stdout
    assert f"  FAIL record {t['record']} (batch " in en.stdout and not CJK.search(en.stdout), en.stdout

    # --json: a contract, byte for byte the same in both languages, English failures inside. (Only the count of
    # access-log entries moves between two runs: each run's own pulls are logged.)
    zh_json, en_json = cli(*args, "--json", lang=ZH), cli(*args, "--json", lang=EN)
    assert zh_json.returncode == en_json.returncode == 1
    same = [re.sub(r'"access_log": \d+', '"access_log": N', p.stdout).encode() for p in (zh_json, en_json)]
    assert same[0] == same[1] and not CJK.search(zh_json.stdout)
    failures = json.loads(zh_json.stdout)["failures"]
    assert f"gateway gw-zh seq 4 (batch {t['h4'][:16]}): seq 3..3 missing, not declared dropped" in failures

    # A refused token: the receiver's English error body quoted inside a Chinese sentence.
    refused = cli("feed", "verify", "--url", receiver.url, "--enterprise", "ent-zh", "--token", "nope", lang=ZH)
    assert refused.returncode == 1 and "  失败 拉取数据源失败：请求 /v1/feed/enterprises 返回 HTTP 401：" in \
        refused.stdout, refused.stdout


def test_every_enterprise_prefix_and_nested_error_is_rendered(receiver) -> None:
    """Without --enterprise, failures are prefixed by the enterprise, and a WireError inside a failure
    (a batch whose body no longer hashes to its hash) is translated too."""
    t = _tampered(receiver)
    with receiver.rdb.write() as conn:
        conn.execute("UPDATE batches SET body = CAST(? AS BLOB) WHERE hash = ?", (b'{"forged":1}', t["h4"]))
    zh = cli("feed", "verify", "--url", receiver.url, "--token", t["token"], lang=ZH)
    assert zh.returncode == 1
    assert f"  失败 ent-zh：批次 {t['h4'][:16]}：bad_hash: 批次内容的哈希与批次哈希不符" in zh.stdout, zh.stdout


# --- the pattern itself --------------------------------------------------------------------------------------------

_value = st.one_of(st.integers(), st.text(max_size=20), st.none(), st.lists(st.integers(), max_size=3))


@given(a=_value, b=_value)
def test_a_msg_is_its_english_text_and_keeps_how_it_was_made(a: Any, b: Any) -> None:
    m = msg("x {a} y {b}", a=a, b=b)
    assert m == f"x {a} y {b}" and json.dumps([m]) == json.dumps([f"x {a} y {b}"])
    assert m.render(lambda s: s) == str(m)
    for again in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert isinstance(again, Msg) and again.template == m.template and again == m


def test_nested_texts_and_exceptions_render_in_the_catalogs_language() -> None:
    zh = i18n.gettext_for("zh-CN")
    inner = wire.WireError("bad_hash", msg("body does not hash to the batch hash"))
    outer = msg("batch {batch}: {error}", batch="abcd", error=inner)
    assert str(outer) == "batch abcd: bad_hash: body does not hash to the batch hash"
    assert render(outer, zh) == "批次 abcd：bad_hash: 批次内容的哈希与批次哈希不符"
    both = Joined([msg("record id delivered twice"), "plain"])
    assert str(both) == "record id delivered twice; plain" and render(both, zh) == "记录编号被重复提供; plain"
    assert render(ValueError("as it is"), zh) == "as it is"
    again = pickle.loads(pickle.dumps(outer))  # the exception inside is kept as its text: copies and pickles
    assert again == outer and render(again, zh) == render(outer, zh)


# --- the guard -----------------------------------------------------------------------------------------------------

# Every feed_verify*.py module (a new one is covered without editing this list), the chain rule and rescore.
VERIFIER = sorted(p.name for p in (REPO / "cloud_stub").glob("feed_verify*.py")) + ["feed_chain.py", "feed_rescore.py"]
# How the verifier reports: report.feed / report.note, a fail callback, notices / problems / out lists, and the
# message of a WireError it raises (shown inside a failure).
_SINKS = {"feed", "note", "fail", "append"}


def _is_msg(node: ast.AST) -> bool:
    if isinstance(node, ast.IfExp):
        return _is_msg(node.body) and _is_msg(node.orelse)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "msg" \
        and bool(node.args) and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)


def _is_text(node: ast.AST) -> bool:
    """A text made here in English only: an f-string, a literal, a concatenation, a ``.format`` or ``str()``."""
    if isinstance(node, ast.IfExp):
        return _is_text(node.body) or _is_text(node.orelse)
    return isinstance(node, ast.JoinedStr | ast.BinOp) or isinstance(node, ast.Constant) and isinstance(
        node.value, str) or isinstance(node, ast.Call) and (
        isinstance(node.func, ast.Attribute) and node.func.attr == "format"
        or isinstance(node.func, ast.Name) and node.func.id == "str")


def _reported_texts(tree: ast.AST) -> list[ast.AST]:
    """First arguments of every failure/notice report, and the message argument of every WireError raised."""
    out: list[ast.AST] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else None
        if name in ("feed", "note") and owner == "report" or name == "fail" and owner is None \
                or name == "append" and owner in ("notices", "problems", "out"):
            out.append(node.args[0])
        elif name == "WireError" and len(node.args) == 2:
            out.append(node.args[1])
    # A reason returned to be reported by the caller (``why = _status_ok(...)``; ``fail(msg("...{why}", why=why))``):
    # an f-string or ``.format`` returned, alone or as a branch of ``x if ... else ...``. (A literal returned is a
    # code, ``"ok"``.)
    for node in ast.walk(tree):
        if isinstance(node, ast.Return) and node.value is not None:
            for value in (node.value.body, node.value.orelse) if isinstance(node.value, ast.IfExp) else (node.value,):
                if isinstance(value, ast.JoinedStr) or isinstance(value, ast.Call) and isinstance(
                        value.func, ast.Attribute) and value.func.attr == "format":
                    out.append(value)
    return out


def test_every_verifier_failure_is_a_translated_msg() -> None:
    """A new failure written as an f-string (English only) fails here, and so does a msg without a zh-CN entry."""
    zh = i18n.translation("zh-CN")
    untranslated, plain, n = [], [], 0
    for name in VERIFIER:
        path = REPO / "cloud_stub" / name
        for arg in _reported_texts(ast.parse(path.read_text(encoding="utf-8"))):
            n += 1
            if _is_text(arg):
                plain.append(f"{name}:{arg.lineno}: {ast.unparse(arg)[:80]}")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if _is_msg(node) and isinstance(node, ast.Call):
                template = node.args[0].value  # type: ignore[attr-defined]
                if zh.gettext(template) == template and template.strip(" {}:") and not CJK.search(template):
                    untranslated.append(f"{name}:{node.lineno}: {template!r}")
    assert n > 100, n  # the walk finds the reports (if it found none, it would prove nothing)
    assert plain == [], "report these through cloud_stub.texts.msg (docs/i18n.md):\n" + "\n".join(plain)
    assert untranslated == [], "no zh-CN translation (run scripts/i18n.py update, translate):\n" + "\n".join(
        untranslated)


def test_texts_imports_only_the_standard_library() -> None:
    """A bank vendors texts.py with the verifier: nothing of the project, nothing installed."""
    tree = ast.parse((REPO / "cloud_stub" / "texts.py").read_text(encoding="utf-8"))
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert names and names <= set(sys.stdlib_module_names) | {"__future__"}, names


def test_the_guard_sees_a_plain_failure() -> None:
    tree = ast.parse('report.feed(f"batch {h}: lost")\nfail(msg("ok {x}", x=1))\nraise wire.WireError("c", "text")')
    assert [_is_text(a) for a in _reported_texts(tree)] == [True, False, True]


def test_the_guard_sees_a_plain_failure_planted_in_the_bank_checks() -> None:
    """feed_verify_bank.py (V51-V54) is covered: a ``fail(f"...")`` or a reason returned as an f-string planted in
    its real source is reported, the module as it is is clean."""
    source = (REPO / "cloud_stub" / "feed_verify_bank.py").read_text(encoding="utf-8")
    assert "feed_verify_bank.py" in VERIFIER
    assert not [a for a in _reported_texts(ast.parse(source)) if _is_text(a)]
    for old, planted in (
            ('fail(msg("{what}: an item is not an object", what=what))', 'fail(f"{what}: an item is not an object")'),
            ('return msg("not observed, yet observed {observed}", observed=obs)',
             'return f"not observed, yet observed {obs}"'),
            ('return None if st == "not_observed" else msg("status {status} without an observed value", status=st)',
             'return None if st == "not_observed" else f"status {st} without an observed value"')):
        assert old in source, old
        found = [ast.unparse(a) for a in _reported_texts(ast.parse(source.replace(old, planted))) if _is_text(a)]
        assert len(found) == 1 and found[0].startswith("f"), (planted, found)
