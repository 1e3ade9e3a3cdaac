"""Message catalogs for everything the gateway shows people: CLI, status page, its script.

Standard library ``gettext`` at run time (compiled ``.mo`` files shipped in ``gateway/locale``),
Babel only to extract and compile them (docs/i18n.md). Wrap a user-facing string in ``_()``
(or ``ngettext`` for counts, ``N_`` to mark a string translated later); put values in with
``.format`` placeholders, never an f-string inside ``_()``::

    click.echo(_("enrolled gateway {gateway}").format(gateway=gid))

The locale comes, in the order each caller decides, from an explicit choice (``?lang=``),
the profile (``site.locale``), the environment (LANGUAGE / LC_ALL / LC_MESSAGES / LANG) or
a browser's Accept-Language; anything unsupported falls back to English.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

DOMAIN = "edgeproof"
LOCALE_DIR = Path(__file__).with_name("locale")
DEFAULT = "en"
SUPPORTED = ("en", "zh-CN")
ENV_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def normalise(tag: str | None) -> str | None:
    """'zh_CN.UTF-8', 'zh-cn', 'zh-Hans-CN', 'zh' -> 'zh-CN'; 'en_GB' -> 'en'; C, POSIX, others -> None."""
    if not tag:
        return None
    t = tag.split(".", 1)[0].split("@", 1)[0].replace("_", "-").strip().lower()
    if t in ("", "c", "posix", "*"):
        return None
    parts = t.split("-")
    if parts[0] == "en":
        return "en"
    # Traditional-script or Taiwan/Hong Kong tags are not simplified Chinese: no catalog for them yet.
    if parts[0] == "zh" and not {"hant", "tw", "hk", "mo"} & set(parts[1:]):
        return "zh-CN"
    return None


def from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The locale the environment asks for, gettext's way: the first of LANGUAGE (a colon list),
    LC_ALL, LC_MESSAGES, LANG that is set decides; None when it names nothing we have."""
    env = os.environ if environ is None else environ
    for var in ENV_VARS:
        value = env.get(var, "")
        if value:
            for item in value.split(":"):
                found = normalise(item)
                if found:
                    return found
            if var != "LANGUAGE":  # an unsupported LANGUAGE list falls through to LC_ALL/LANG
                return None
    return None


def from_accept_language(header: str | None) -> str | None:
    """The supported locale a browser ranks highest (RFC 9110 q-values); None if none is."""
    best: tuple[float, int, str] | None = None
    for i, part in enumerate((header or "").split(",")):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            k, _eq, v = p.strip().partition("=")
            if k.strip() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        found = normalise(tag)
        if found and q > 0 and (best is None or (q, -i) > (best[0], best[1])):
            best = (q, -i, found)
    return best[2] if best else None


def resolve(*candidates: str | None) -> str:
    """The first candidate that names a supported locale, else English."""
    for c in candidates:
        found = normalise(c)
        if found:
            return found
    return DEFAULT


@lru_cache(maxsize=8)
def translation(locale: str) -> gettext.NullTranslations:
    """The compiled catalog for a locale (English: the messages as written)."""
    if locale == DEFAULT:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[locale.replace("-", "_")], fallback=True)


def catalog(locale: str) -> dict[str, str]:
    """msgid -> translation, for the status page's script (served as JSON)."""
    cat = getattr(translation(locale), "_catalog", {})
    return {k: v for k, v in cat.items() if isinstance(k, str) and k and v}


_locale = resolve(from_env())


def set_locale(locale: str | None) -> str:
    """Switch this process's messages (the CLI); returns the locale now in force."""
    global _locale
    _locale = resolve(locale)
    _sync_click_language()
    return _locale


def get_locale() -> str:
    return _locale


def _(message: str) -> str:
    """The message in this process's locale."""
    return translation(_locale).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translation(_locale).ngettext(singular, plural, n)


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name
    """Mark a string for extraction; translate it where it is shown."""
    return message


def render(error: object, locale: str | None = None) -> str:
    """An error (or message part) as a person reads it, in ``locale`` (default: this process's).

    Anything with a ``template`` (an ``N_`` marked message) and ``params`` is translated and filled in,
    each parameter that is itself such an object rendered the same way (gateway.user_error); anything
    else is ``str()`` as before (an OS error's own text, a third-party library's message)."""
    template, params = getattr(error, "template", None), getattr(error, "params", None)
    if not isinstance(template, str) or not isinstance(params, dict):
        return str(error)
    values = {k: render(v, locale) if hasattr(v, "template") else v for k, v in params.items()}
    text = translation(resolve(locale) if locale else _locale).gettext(template)
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):  # a broken translation never hides the error
        return str(error)


def as_data(error: object) -> object:
    """An error (or marked part) as JSON data a page or a later process can render: ``{"t": template,
    "p": {name: value}}`` with nested parts nested the same way, anything else its text. The status page
    renders it with its catalog (page.js ``msgText``), ``edgeproof status`` with :func:`render_data`."""
    template, params = getattr(error, "template", None), getattr(error, "params", None)
    if not isinstance(template, str) or not isinstance(params, dict):
        return str(error)
    return {"t": template, "p": {str(k): as_data(v) if hasattr(v, "template") else str(v) for k, v in params.items()}}


def render_data(data: object, locale: str | None = None) -> str:
    """The text of :func:`as_data`'s output in ``locale`` (default: this process's)."""
    if not isinstance(data, dict) or not isinstance(data.get("t"), str) or not isinstance(data.get("p"), dict):
        return str(data)
    values = {k: render_data(v, locale) for k, v in data["p"].items()}
    text = translation(resolve(locale) if locale else _locale).gettext(data["t"])
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):
        try:
            return data["t"].format(**values)
        except (KeyError, IndexError, ValueError):
            return data["t"]


# Click's own words ("Usage:", "Options:", "Error: Missing option ...") come from click's modules through the
# standard library's ``gettext.gettext``, i.e. the process's current text domain, in the language the
# environment names (LANGUAGE, LC_ALL, LC_MESSAGES, LANG). The gateway ships their translation as the domain
# ``click`` (gateway/locale/zh_CN/LC_MESSAGES/click.po, extracted from the installed click by scripts/i18n.py)
# and makes it the process's domain when the CLI starts. The language: the environment's, unless the profile
# chose another (``site.locale`` with LANG=C): then LANGUAGE says it, which gettext reads first.
CLICK_DOMAIN = "click"
_click_installed = False


def install_click_catalog() -> None:
    """Make click's framework words speak this process's language (the ``edgeproof`` CLI calls it once)."""
    global _click_installed
    gettext.bindtextdomain(CLICK_DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(CLICK_DOMAIN)
    _click_installed = True
    _sync_click_language()


def _sync_click_language() -> None:
    if _click_installed and (from_env() or DEFAULT) != _locale:
        os.environ["LANGUAGE"] = _locale.replace("-", "_")


def use_profile_locale(site_locale: str | None) -> None:
    """A profile's ``site.locale`` applies unless the environment chose a language."""
    if site_locale and from_env() is None:
        set_locale(site_locale)
