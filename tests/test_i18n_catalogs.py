"""The message catalogs are complete: what `make test` enforces for zh-CN (docs/i18n.md).

``scripts/i18n.py check`` runs ``pybabel extract`` over gateway/ (with drivers/ and inference/),
cloud_stub/ and the installed click into a temporary directory and compares: a wrapped string missing
from a .po (a stale catalog), an entry no longer in the sources, an untranslated or fuzzy zh-CN entry,
a translation whose {placeholders} differ, or a .mo that does not match its .po each fail it. The
second test proves each of those failures is seen, on a copy of the packages.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "i18n.py"


def _tool():
    spec = importlib.util.spec_from_file_location("i18n_tool", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["i18n_tool"] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_catalogs_complete_and_compiled():
    res = subprocess.run([sys.executable, str(SCRIPT), "check"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "message catalogs complete" in res.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("checkout")
    for pkg in ("gateway", "cloud_stub", "drivers", "inference"):
        shutil.copytree(ROOT / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _edit_po(po: Path, change) -> None:
    with po.open("rb") as f:
        cat = read_po(f, locale="zh_CN")
    change(cat)
    with po.open("wb") as f:
        write_po(f, cat, width=0, sort_output=True, no_location=True)


def test_check_fails_on_each_kind_of_gap(copy):
    tool = _tool()  # the copy starts as complete as the checkout (the test above)
    gw_po = copy / "gateway/locale/zh_CN/LC_MESSAGES/edgeproof.po"
    rc_po = copy / "cloud_stub/locale/zh_CN/LC_MESSAGES/edgeproof_receiver.po"

    # A string wrapped in the sources but not in the catalog.
    with (copy / "gateway/commands/init.py").open("a") as f:
        f.write('\nNEW = _("a message nobody has translated yet")\n')
    # A _() nested in another _() call's arguments in the page's script (Babel does not extract it).
    with (copy / "gateway/status/page.js").open("a") as f:
        f.write('\nconst nested = _("{n} items", {n: _("an inner literal")});\n')
    with (copy / "drivers/gpio/pins.py").open("a") as f:
        f.write('\nNEW = N_("a driver message nobody translated")\n')
    _edit_po(copy / "gateway/locale/zh_CN/LC_MESSAGES/click.po",
             lambda cat: setattr(cat["Show this message and exit."], "string", ""))
    # A zh-CN entry emptied, one marked fuzzy, one whose placeholder was lost.
    def damage(cat):
        cat["selftest passed"].string = ""
        cat["selftest FAILED"].flags.add("fuzzy")
        cat["no key at {path}"].string = "没有密钥"
    _edit_po(gw_po, damage)
    # The receiver's .po edited but not recompiled.
    _edit_po(rc_po, lambda cat: setattr(cat["red"], "string", "红"))

    # A reason code added to the scorecard TOML is a new message too.
    toml = copy / "cloud_stub/scoring/scorecard-v1.toml"
    toml.write_text(toml.read_text() + '\n# x = { code = "ZZ99", text = "A brand-new reason" }\n')

    found = "\n".join(tool.problems(copy))
    assert "stale, no entry for 'a message nobody has translated yet'" in found, found
    assert "untranslated 'selftest passed'" in found, found
    assert "fuzzy 'selftest FAILED'" in found, found
    assert "'no key at {path}': the translation's placeholders" in found, found
    assert "edgeproof_receiver.mo: does not match its .po" in found, found
    assert "edgeproof_receiver.po: stale, no entry for 'A brand-new reason'" in found, found
    assert "page.js: _('an inner literal') was not extracted" in found, found
    # A driver's message (drivers/ marks its own with N_) belongs to the gateway's catalog.
    assert "edgeproof.po: stale, no entry for 'a driver message nobody translated'" in found, found
    # Click's own words: one of them left untranslated is a gap too.
    assert "click.po: untranslated 'Show this message and exit.'" in found, found
