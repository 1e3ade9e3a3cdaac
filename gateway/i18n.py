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
from functools import lru_cache
from pathlib import Path

# One parser for both sides (gateway/wire/language.py); re-exported here so callers keep asking i18n.
from gateway.wire.language import DEFAULT, from_env, resolve
from gateway.wire.language import ENV_VARS as ENV_VARS
from gateway.wire.language import SUPPORTED as SUPPORTED
from gateway.wire.language import from_accept_language as from_accept_language
from gateway.wire.language import normalise as normalise

DOMAIN = "edgeproof"
LOCALE_DIR = Path(__file__).with_name("locale")


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


def use_profile_locale(site_locale: str | None) -> None:
    """A profile's ``site.locale`` applies unless the environment chose a language."""
    if site_locale and from_env() is None:
        set_locale(site_locale)
