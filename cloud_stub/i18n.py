"""The receiver's message catalog: finding and reason-code texts, alert texts, in the bank's language.

Stored findings, scores and alerts stay structured and signed as they are; text is made from
them at the edge (the rendered feed routes, the CLI) with stdlib ``gettext`` and the compiled
catalog in ``cloud_stub/locale`` (domain ``edgeproof_receiver``; docs/i18n.md). The locale negotiation
(tags, the environment, Accept-Language) is the one the gateway uses: gateway/wire/language.py, part of the
wire package the receiver may import.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from cloud_stub.texts import render

# One implementation for both sides (gateway/wire/language.py); re-exported so callers keep asking i18n.
from gateway.wire.language import DEFAULT as DEFAULT
from gateway.wire.language import ENV_VARS as ENV_VARS
from gateway.wire.language import SUPPORTED as SUPPORTED
from gateway.wire.language import Catalog, resolve
from gateway.wire.language import from_accept_language as from_accept_language
from gateway.wire.language import from_env as from_env
from gateway.wire.language import normalise as normalise

DOMAIN = "edgeproof_receiver"
LOCALE_DIR = Path(__file__).with_name("locale")


_catalog = Catalog(DOMAIN, LOCALE_DIR)
translation = _catalog.translation  # the compiled catalog for a locale (English: the messages as written)


def gettext_for(locale: str) -> Any:
    """The ``gettext`` function of one locale (the receiver serves many banks at once: no global)."""
    return translation(resolve(locale)).gettext


# The CLI's language (``edgeproof cloud ...``, ``edgeproof feed ...``): one operator, one process, so
# one locale from the environment. HTTP routes never use ``_``: they choose per request (gettext_for).
set_locale = _catalog.set_locale  # switch the CLI's messages; returns the locale now in force


get_locale = _catalog.get_locale
_ = _catalog.gettext  # a CLI message in the operator's language (the environment's; docs/i18n.md)
ngettext = _catalog.ngettext


def pgettext(context: str, message: str) -> str:
    """A short word whose meaning depends on what it is about (``pgettext("dispute status", "rejected")``
    and ``pgettext("batch status", "rejected")`` may read differently); Babel extracts it with its context."""
    return _catalog.translation(_catalog.get_locale()).pgettext(context, message)


def text(value: Any) -> str:
    """A text made in English as a :class:`cloud_stub.texts.Msg` (a verifier failure, a receiver error's
    message, an exception carrying one), in the operator's language; anything else as it is."""
    return render(value, _)


def display_width(text: str) -> int:
    """Terminal columns a string takes: a Chinese character takes two (so tables line up in zh-CN)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int) -> str:
    """``text.ljust(width)`` in terminal columns."""
    return text + " " * max(0, width - display_width(text))


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name
    """Mark a string for extraction; it is translated where it is shown."""
    return message


_REASON_TEXT = re.compile(r'\btext\s*=\s*"((?:[^"\\]|\\.)*)"')


def extract_reason_texts(fileobj: IO[bytes], keywords: Any, comment_tags: Any,
                         options: Any) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extractor for the scorecard TOML's reason texts (``text = "..."``), so a new reason
    code cannot ship without its translation (babel-receiver.cfg)."""
    for lineno, line in enumerate(fileobj.read().decode("utf-8").splitlines(), start=1):
        for m in _REASON_TEXT.finditer(line):
            yield lineno, "_", m.group(1).replace('\\"', '"'), ["reason code text (scorecard)"]
