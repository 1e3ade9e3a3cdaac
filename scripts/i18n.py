#!/usr/bin/env python3
"""Message catalogs: extract, update, compile and check them (Babel; docs/i18n.md).

    python scripts/i18n.py update    # extract the wrapped strings, merge them into every .po
    python scripts/i18n.py compile   # .po -> .mo (the .mo files are committed: the runtime needs no Babel)
    python scripts/i18n.py check     # exit 1 on a stale catalog, an untranslated or fuzzy entry, a stale .mo

``check`` is what the test suite runs (tests/test_i18n_catalogs.py): it extracts into a temporary
directory with ``pybabel extract`` and compares, so a string wrapped in ``_()`` but missing from a
.po, a zh-CN entry left empty or fuzzy, or a .po edited without recompiling fails ``make test``.
"""

from __future__ import annotations

import gettext
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent  # the checkout: its extractor modules are imported from here
LOCALES = ("zh_CN",)
PLACEHOLDER = re.compile(r"\{[a-zA-Z_][a-zA-Z0-9_]*\}")
# Every _("...") literal in the page's script and HTML: Babel's JavaScript extractor misses a _() nested in
# another _() call's arguments, so each literal is checked to have been extracted.
JS_MARK = re.compile(r'(?<![\w$.])_\("((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Domain:
    name: str  # the gettext domain (file name of the .po/.mo)
    package: str  # the folder that holds locale/ (and the first folder extracted)
    mapping: str | None  # the Babel mapping file (paths relative to each source folder); None: Python files
    extra_sources: tuple[str, ...] = ()  # more folders extracted into the same catalog
    keywords: tuple[str, ...] = ()  # extraction keywords of this domain only (beyond _, N_, ngettext, pgettext)
    # A third party's messages (click's): extracted from the installed package, whose version may differ between
    # machines, so an entry the installed version no longer has is not a problem; a missing translation is.
    third_party: bool = False

    def locale_dir(self, root: Path = ROOT) -> Path:
        return root / self.package / "locale"

    def po(self, locale: str, root: Path = ROOT) -> Path:
        return self.locale_dir(root) / locale / "LC_MESSAGES" / f"{self.name}.po"

    def mo(self, locale: str, root: Path = ROOT) -> Path:
        return self.po(locale, root).with_suffix(".mo")

    def sources(self) -> tuple[str, ...]:
        return (self.package, *self.extra_sources) if not self.third_party else self.extra_sources


def _click_dir() -> str:
    import click  # the installed click: its `_()` strings are what `edgeproof` prints around ours

    return str(Path(click.__file__).parent)


# drivers/ and inference/ may not import the gateway (import-linter), so their user-facing messages are marked
# with their own ``N_`` (drivers/support/messages.py, inference/errors.py) and translated by the gateway where shown.
DOMAINS = (Domain("edgeproof", "gateway", "babel-gateway.cfg", ("drivers", "inference")),
           # gateway/wire: the receiver shows the shared wire package's marked texts too (its install errors)
           Domain("edgeproof_receiver", "cloud_stub", "babel-receiver.cfg", ("gateway/wire",),
                  keywords=("msg",)),  # cloud_stub.texts.msg: verifier failures, error messages
           Domain("click", "gateway", None, ("<click>",), third_party=True))


def _resolve(src: str) -> str:
    return _click_dir() if src == "<click>" else src


def pybabel(*args: str, root: Path = ROOT) -> None:
    cmd = [sys.executable, "-c", "from babel.messages.frontend import main; main()", *args]
    res = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)})
    if res.returncode != 0:
        raise SystemExit(f"pybabel {' '.join(args[:1])} failed:\n{res.stderr[-3000:]}")


def extract(domain: Domain, out: Path, root: Path = ROOT) -> Path:
    """``pybabel extract`` over the domain's package into ``out`` (a .pot no one commits)."""
    pot = out / f"{domain.name}.pot"
    mapping = ["-F", str(ROOT / domain.mapping)] if domain.mapping else []
    pybabel("extract", *mapping, "-k", "N_", "-k", "ngettext:1,2", "-k", "pgettext:1c,2",
            *(a for k in domain.keywords for a in ("-k", k)),
            "--no-location", "--sort-output", "--no-wrap", "--project=EdgeProof", "-o", str(pot),
            *(_resolve(src) for src in domain.sources()), root=root)
    return pot


def update() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for d in DOMAINS:
            pot = extract(d, Path(tmp))
            for loc in LOCALES:
                if d.po(loc).exists():
                    pybabel("update", "-D", d.name, "-i", str(pot), "-d", str(d.locale_dir()), "-l", loc,
                            "--no-wrap", "--ignore-obsolete", "--no-fuzzy-matching")
                else:
                    pybabel("init", "-D", d.name, "-i", str(pot), "-d", str(d.locale_dir()), "-l", loc, "--no-wrap")
                print(f"updated {d.po(loc).relative_to(ROOT)}")


def compile_all() -> None:
    for d in DOMAINS:
        for loc in LOCALES:
            pybabel("compile", "-D", d.name, "-d", str(d.locale_dir()), "-l", loc)
            print(f"compiled {d.mo(loc).relative_to(ROOT)}")


def problems(root: Path = ROOT) -> list[str]:
    """Every reason the catalogs under ``root`` are not ready to ship, one line each, naming the file and msgid."""
    out: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for d in DOMAINS:
            with extract(d, Path(tmp), root).open("rb") as f:
                wanted = {(m.id, m.context) for m in read_po(f) if m.id}  # pgettext: one entry per context
            wanted_ids = {k[0] for k in wanted}
            for page in sorted((root / d.package).glob("status/page.*")) if not d.third_party else ():
                for lit in JS_MARK.findall(page.read_text(encoding="utf-8")):
                    if lit.replace('\\"', '"') not in wanted_ids:
                        out.append(f"{page.relative_to(root)}: _({lit!r}) was not extracted: a _() inside another "
                                   "_() call's arguments? Move it out (docs/i18n.md)")
            for loc in LOCALES:
                po_path = d.po(loc, root)
                rel = po_path.relative_to(root)
                if not po_path.exists():
                    out.append(f"{rel}: missing (run: python scripts/i18n.py update)")
                    continue
                with po_path.open("rb") as f:
                    cat = read_po(f, locale=loc)
                have = {(m.id, m.context): m for m in cat if m.id}
                for key in sorted(wanted - set(have), key=str):
                    out.append(f"{rel}: stale, no entry for {_label(key)} (run: python scripts/i18n.py update)")
                for key in sorted(set(have) - wanted if not d.third_party else (), key=str):
                    out.append(f"{rel}: stale, {_label(key)} is no longer in the sources "
                               "(run: python scripts/i18n.py update)")
                for (mid, ctx), m in have.items():
                    strings = m.string if isinstance(m.string, tuple) else (m.string,)
                    if not all(strings):
                        out.append(f"{rel}: untranslated {_label((mid, ctx))}")
                    elif m.fuzzy:
                        out.append(f"{rel}: fuzzy {_label((mid, ctx))} "
                                   "(check the translation, then remove the fuzzy flag)")
                    else:
                        ids = mid if isinstance(mid, tuple) else (mid,)
                        need = set().union(*(PLACEHOLDER.findall(i) for i in ids))
                        for s in strings:
                            got = set(PLACEHOLDER.findall(s))
                            # A plural's translation may use either form's placeholders (zh-CN has one form; the
                            # code passes every form's values); a singular's must match exactly.
                            if (got != need) if not isinstance(mid, tuple) else (not got <= need or (need and not got)):
                                out.append(f"{rel}: {mid!r}: the translation's placeholders "
                                           f"{sorted(set(PLACEHOLDER.findall(s)))} differ from {sorted(need)}")
                out.extend(_stale_mo(d.mo(loc, root), root, cat))
    return out


def _label(key: tuple[object, str | None]) -> str:
    """A catalog entry as a problem line names it: its msgid, and its pgettext context if it has one."""
    mid, ctx = key
    return f"{mid!r}" if ctx is None else f"{mid!r} (context {ctx!r})"


def _stale_mo(mo: Path, root: Path, cat: object) -> list[str]:
    rel = mo.relative_to(root)
    if not mo.exists():
        return [f"{rel}: missing (run: python scripts/i18n.py compile)"]
    with mo.open("rb") as f:
        compiled = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    expected: dict[object, str] = {}
    for m in cat:  # type: ignore[attr-defined]
        if not m.id or not m.string:
            continue
        prefix = "" if m.context is None else f"{m.context}\x04"  # how a .mo keys a pgettext entry
        if isinstance(m.id, tuple):
            for i, s in enumerate(m.string):
                expected[(prefix + m.id[0], i)] = s
        else:
            expected[prefix + m.id] = m.string
    got = {k: v for k, v in compiled.items() if k != ""}
    return [] if got == expected else [f"{rel}: does not match its .po (run: python scripts/i18n.py compile)"]


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "check"
    if cmd == "update":
        update()
    elif cmd == "compile":
        compile_all()
    elif cmd == "check":
        found = problems()
        for p in found:
            print(p)
        print(f"{len(found)} problem(s) in the message catalogs" if found else "message catalogs complete")
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
