"""A guard: every error text a person reads goes through the catalogs (docs/i18n.md, "Errors").

Two rules, checked on the sources with ``ast`` (so a new module is covered without being listed):

1. A user-facing error (a subclass of ``gateway.user_error.UserError`` / ``KeyedError``, ``drivers.base.DriverError``
   or ``inference.errors.VisionError``) is raised with its message as an ``N_("...")`` template and values as
   keywords: a prose string or f-string passed as is would reach the screen in English, and ``_()`` at raise
   time would put a translation into the logs.
2. At the CLI's edge (gateway/commands, gateway/cli.py) an exception caught with ``except ... as exc`` reaches
   click (``ClickException``, ``UsageError``, ``BadParameter``, ``echo``) only through ``render(exc)``, never as
   ``str(exc)``, an f-string or a bare ``{error}`` value.

The last tests feed each kind of mistake to the scanner, so the guard itself is shown to catch them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROOTS = {"UserError", "KeyedError", "DriverError", "VisionError"}
CLICK_CALLS = {"ClickException", "UsageError", "BadParameter", "echo", "secho", "fail"}
RENDER = {"render", "render_error"}
# The wire package speaks codes to the receiver and banks (docs/i18n.md: codes stay codes); it is not scanned.
SKIP = ("gateway/wire/",)
# Modules whose plain ValueErrors a person reads: a connector import's per-row quarantine reasons (stored in English,
# shown by `edgeproof import` and the status page through gateway/connectors/reasons.py). There a ValueError with a
# sentence is a reason nobody can translate: raise reasons.RowError(N_("..."), name=value).
VALUE_ERROR_MODULES = {"gateway/connectors/values.py", "gateway/connectors/units.py"}


def sources() -> list[Path]:
    out = []
    for pkg in ("gateway", "drivers", "inference"):
        for p in sorted((ROOT / pkg).rglob("*.py")):
            rel = p.relative_to(ROOT).as_posix()
            if not rel.startswith(SKIP):
                out.append(p)
    return out


def user_error_classes(trees: dict[str, ast.Module], roots: set[str] = ROOTS) -> set[str]:
    """Class names deriving (transitively, by name) from one of ``roots``."""
    bases: dict[str, set[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = {b.id if isinstance(b, ast.Name) else b.attr for b in node.bases
                         if isinstance(b, ast.Name | ast.Attribute)}
                bases.setdefault(node.name, set()).update(names)
    found = set(roots)
    changed = True
    while changed:
        changed = False
        for cls, bs in bases.items():
            if cls not in found and bs & found:
                found.add(cls)
                changed = True
    return found


def _call_name(node: ast.Call) -> str | None:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _is_prose(node: ast.expr) -> bool:
    """A literal sentence (a space in it), an f-string with one, or a message translated at raise time."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return " " in node.value.strip()
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.Constant) and " " in str(v.value) for v in node.values)
    if isinstance(node, ast.Call):
        inner = node.func.value if isinstance(node.func, ast.Attribute) and node.func.attr == "format" else node
        return isinstance(inner, ast.Call) and _call_name(inner) == "_"
    if isinstance(node, ast.BinOp):
        return _is_prose(node.left) or _is_prose(node.right)
    return False


def untemplated_raises(rel: str, tree: ast.Module, classes: set[str]) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) in classes:
            for arg in node.args:
                if _is_prose(arg):
                    out.append(f"{rel}:{node.lineno}: {_call_name(node)}(...) with a message not marked N_(...): "
                               "pass N_(\"... {name} ...\"), name=value (gateway/user_error.py)")
                    break
    return out


def _caught_names(tree: ast.Module) -> set[str]:
    return {h.name for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) and h.name}


def unrendered_at_edge(rel: str, tree: ast.Module) -> list[str]:
    caught = _caught_names(tree)
    out = []

    def bad(node: ast.AST) -> bool:
        if isinstance(node, ast.Call) and _call_name(node) in RENDER:
            return False  # rendered: fine whatever is inside
        if isinstance(node, ast.Name) and node.id in caught:
            return True
        if isinstance(node, ast.Attribute):
            return False  # exc.code, exc.key: data, not the message
        return any(bad(child) for child in ast.iter_child_nodes(node))

    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and _call_name(node) in CLICK_CALLS
                and any(bad(a) for a in [*node.args, *(k.value for k in node.keywords)])):
            out.append(f"{rel}:{node.lineno}: an exception reaches click as text without render(exc) "
                       "(gateway.i18n.render translates it)")
    return out


_WORDS = re.compile(r"[A-Za-z]{2,} | [A-Za-z]{2,}")  # an English word beside a space (prose), not a code
_GETTEXT = {"_", "N_", "pgettext", "ngettext", "render", "render_data"}


def untranslated_at_edge(rel: str, tree: ast.Module) -> list[str]:
    """Rule 3: what the CLI prints (``echo``, ``ClickException``, ...) holds no English phrase outside ``_()``: an
    f-string or literal sentence printed as is would reach a Chinese reader in English."""
    out = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _call_name(node) in CLICK_CALLS and node.args):
            continue
        inside = {id(w) for c in ast.walk(node.args[0]) if isinstance(c, ast.Call) and _call_name(c) in _GETTEXT
                  for w in ast.walk(c)}
        if any(isinstance(v, ast.Constant) and isinstance(v.value, str) and id(v) not in inside
               and _WORDS.search(v.value) for v in ast.walk(node.args[0])):
            out.append(f"{rel}:{node.lineno}: English text printed without _() (gateway.i18n)")
    return out


def scan(files: dict[str, str] | None = None) -> list[str]:
    """The problems in ``files`` (path -> source), or in the whole project when None."""
    trees = _project_trees() if files is None else {rel: ast.parse(text) for rel, text in files.items()}
    classes = _project_classes() if files is None else user_error_classes(trees, _project_classes())
    problems = []
    for rel, tree in trees.items():
        problems += untemplated_raises(rel, tree, classes | {"ValueError"} if rel in VALUE_ERROR_MODULES else classes)
        if rel.startswith("gateway/commands/") or rel == "gateway/cli.py":
            problems += unrendered_at_edge(rel, tree)
            problems += untranslated_at_edge(rel, tree)
    return problems


_TREES: dict[str, ast.Module] = {}
_CLASSES: set[str] = set()


def _project_classes() -> set[str]:
    if not _CLASSES:
        _CLASSES.update(user_error_classes(_project_trees()))
    return _CLASSES


def _project_trees() -> dict[str, ast.Module]:
    if not _TREES:
        for p in sources():
            _TREES[p.relative_to(ROOT).as_posix()] = ast.parse(p.read_text(encoding="utf-8"))
    return _TREES


def test_every_user_facing_error_is_a_template_and_rendered_at_the_edge():
    problems = scan()
    assert not problems, "\n".join(problems)


def test_the_scan_knows_the_error_classes():
    classes = _project_classes()
    assert {"ProfileError", "IdentityError", "UpdateError", "ProvisionFileError", "DecommissionError",
            "ReplayDataError", "DeclarationError", "DisputeError", "TransportError", "ModelError", "SourceError",
            "Busy", "StepFailed"} <= classes


@pytest.mark.parametrize("snippet", [
    'raise UpdateError("the bundle is broken")',
    'raise ProfileError(path, "site.id", f"a name (found {x!r})")',
    'raise DriverError("io", f"cannot open {port}: {exc}")',
    'raise IdentityError(_("no key at {path}").format(path=p))',
])
def test_guard_catches_an_untemplated_raise(snippet):
    found = scan({"gateway/new_module.py": f"def f(path, x, port, exc, p):\n    {snippet}\n"})
    assert len(found) == 1 and "not marked N_" in found[0], found


@pytest.mark.parametrize("module", sorted(VALUE_ERROR_MODULES))
def test_guard_catches_a_plain_quarantine_reason(module):
    """A row reason raised as ``ValueError(f"...")`` in values.py / units.py (their real source, one raise planted)
    is caught; the modules as they are, are clean."""
    source = (ROOT / module).read_text(encoding="utf-8")
    assert scan({module: source}) == []
    planted = source + '\n\ndef parse_flag(raw):\n    raise ValueError(f"not a flag: {raw!r}")\n'
    found = scan({module: planted})
    assert len(found) == 1 and "ValueError(...) with a message not marked N_" in found[0], found
    assert scan({"gateway/elsewhere.py": planted}) == []  # elsewhere a ValueError is not (yet) a reader's text


@pytest.mark.parametrize("snippet", [
    "raise click.ClickException(str(exc))",
    'raise click.ClickException(f"failed: {exc}")',
    'raise click.ClickException(_("failed: {error}").format(error=exc))',
    'click.echo(_("failed: {error}").format(error=exc), err=True)',
    "raise click.BadParameter(exc.message + str(exc))",
])
def test_guard_catches_an_exception_shown_without_render(snippet):
    code = f"def f():\n    try:\n        pass\n    except ValueError as exc:\n        {snippet}\n"
    found = scan({"gateway/commands/new_command.py": code})
    assert len(found) == 1 and "without render" in found[0], found


@pytest.mark.parametrize("snippet", [
    'click.echo(f"no release newer than {v} on the receiver")',
    'click.echo("nothing to do here" if quiet else _("done"))',
    'raise click.ClickException("the bundle is broken")',
])
def test_guard_catches_english_printed_without_gettext(snippet):
    found = scan({"gateway/commands/new_command.py": f"def f(v, quiet):\n    {snippet}\n"})
    assert len(found) == 1 and "without _()" in found[0], found
    assert scan({"gateway/commands/new_command.py": 'def f(v):\n    click.echo(_("no release newer than '
                                                    '{v}").format(v=v))\n    click.echo(json.dumps({"a b": 1}))\n'})\
        == []


def test_guard_accepts_the_pattern():
    code = ("def f(path):\n"
            "    try:\n        pass\n"
            "    except ProfileError as exc:\n"
            '        raise click.ClickException(_("profile error: {error}").format(error=render(exc))) from exc\n'
            '    raise ProfileError(path, "site.id", N_("a name (found {x})"), x=1)\n')
    assert scan({"gateway/commands/new_command.py": code}) == []
