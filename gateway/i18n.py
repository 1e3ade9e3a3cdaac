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
set_locale = _catalog.set_locale  # switch this process's messages (the CLI); returns the locale now in force


def catalog(locale: str) -> dict[str, str]:
    """msgid -> translation, for the status page's script (served as JSON)."""
    cat = getattr(translation(locale), "_catalog", {})
    return {k: v for k, v in cat.items() if isinstance(k, str) and k and v}


get_locale = _catalog.get_locale
_ = _catalog.gettext  # the message in this process's locale
ngettext = _catalog.ngettext


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name
    """Mark a string for extraction; translate it where it is shown."""
    return message


def use_profile_locale(site_locale: str | None) -> None:
    """A profile's ``site.locale`` applies unless the environment chose a language."""
    if site_locale and from_env() is None:
        set_locale(site_locale)
