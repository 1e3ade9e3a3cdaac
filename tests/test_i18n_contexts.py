"""``scripts/i18n.py check`` with pgettext contexts and the receiver's ``msg`` keyword (docs/i18n.md).

One msgid can have two entries (``rejected`` as a dispute's status and as a bank's decision): the check must
tell them apart, so an untranslated one is not hidden by its translated twin, and compare the compiled
``.mo`` (which keys them ``context\\x04msgid``) entry by entry. Runs on a copy of the packages.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "i18n.py"


def _tool():
    spec = importlib.util.spec_from_file_location("i18n_tool_ctx", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["i18n_tool_ctx"] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_contexts_and_msg_templates_are_checked(tmp_path: Path) -> None:
    for pkg in ("gateway", "cloud_stub", "drivers", "inference"):  # the gateway catalog extracts all three
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    tool = _tool()  # the copy starts complete (tests/test_i18n_catalogs.py: the .mo holds the context entries too)

    po = tmp_path / "cloud_stub/locale/zh_CN/LC_MESSAGES/edgeproof_receiver.po"
    with po.open("rb") as f:
        cat = read_po(f, locale="zh_CN")
    status, decision = (cat.get("rejected", context=c) for c in ("dispute status", "dispute decision"))
    assert status.string and decision.string and status.string != decision.string
    cat.get("rejected", context="dispute decision").string = ""
    with po.open("wb") as f:
        write_po(f, cat, width=0, sort_output=True, no_location=True)
    with (tmp_path / "cloud_stub/status_text.py").open("a") as f:
        f.write('\nASLEEP = pgettext("gateway state", "asleep")\n')
    with (tmp_path / "cloud_stub/feed_verify_refs.py").open("a") as f:
        f.write('\nNEW = msg("a failure nobody has translated yet: {x}", x=1)\n')

    found = "\n".join(tool.problems(tmp_path))
    assert "untranslated 'rejected' (context 'dispute decision')" in found, found
    assert "(context 'dispute status')" not in found, found
    assert "stale, no entry for 'asleep' (context 'gateway state')" in found, found
    assert "stale, no entry for 'a failure nobody has translated yet: {x}'" in found, found
    assert "edgeproof_receiver.mo: does not match its .po" in found, found
