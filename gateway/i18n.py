"""Message catalogs for everything the gateway shows people: CLI, status page, its script.

Standard library ``gettext`` at run time (compiled ``.mo`` files shipped in ``gateway/locale``),
Babel only to extract and compile them (docs/i18n.md). Wrap a user-facing string in ``_()``
(or ``ngettext`` for counts, ``N_`` to mark a string translated later); put values in with
``.format`` placeholders, never an f-string inside ``_()``::

    click.echo(_("enrolled gateway {gateway}").format(gateway=gid))

The locale comes, in the order each caller decides, from an explicit choice (``?lang=``),
the profile (``site.locale``), the environment (LANGUAGE / LC_ALL / LC_MESSAGES / LANG) or
a browser's Accept-Language; anything unsupported falls back to English. The parsing of tags, the
environment and Accept-Language is shared with the receiver: gateway/wire/language.py.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

# One implementation for both sides (gateway/wire/language.py); re-exported so callers keep asking i18n.
from gateway.wire.language import DEFAULT as DEFAULT
from gateway.wire.language import ENV_VARS as ENV_VARS
from gateway.wire.language import SUPPORTED as SUPPORTED
from gateway.wire.language import Catalog, from_env
from gateway.wire.language import from_accept_language as from_accept_language
from gateway.wire.language import normalise as normalise
from gateway.wire.language import resolve as resolve

DOMAIN = "edgeproof"
LOCALE_DIR = Path(__file__).with_name("locale")


_catalog = Catalog(DOMAIN, LOCALE_DIR)
translation = _catalog.translation  # the compiled catalog for a locale (English: the messages as written)


def catalog(locale: str) -> dict[str, str]:
    """msgid -> translation, for the status page's script (served as JSON)."""
    cat = getattr(translation(locale), "_catalog", {})
    return {k: v for k, v in cat.items() if isinstance(k, str) and k and v}


def set_locale(locale: str | None) -> str:
    """Switch this process's messages (the CLI); returns the locale now in force (click's words follow)."""
    out = _catalog.set_locale(locale)
    _sync_click_language()
    return out


get_locale = _catalog.get_locale
_ = _catalog.gettext  # the message in this process's locale
ngettext = _catalog.ngettext


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
    text = translation(resolve(locale) if locale else get_locale()).gettext(template)
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
    text = translation(resolve(locale) if locale else get_locale()).gettext(data["t"])
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
    if _click_installed and (from_env() or DEFAULT) != get_locale():
        os.environ["LANGUAGE"] = get_locale().replace("-", "_")


def use_profile_locale(site_locale: str | None) -> None:
    """A profile's ``site.locale`` applies unless the environment chose a language."""
    if site_locale and from_env() is None:
        set_locale(site_locale)
