"""The receiver's message catalog: finding and reason-code texts, alert texts, in the bank's language.

Stored findings, scores and alerts stay structured and signed as they are; text is made from
them at the edge (the rendered feed routes, the CLI) with stdlib ``gettext`` and the compiled
catalog in ``cloud_stub/locale`` (domain ``edgeproof_receiver``; docs/i18n.md). The receiver
imports the wire format only, so it keeps its own small copy of the locale negotiation that
``gateway/i18n.py`` does for the gateway.
"""

from __future__ import annotations

import gettext
import os
import re
import unicodedata
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from cloud_stub.texts import render

DOMAIN = "edgeproof_receiver"
LOCALE_DIR = Path(__file__).with_name("locale")
DEFAULT = "en"
SUPPORTED = ("en", "zh-CN")
ENV_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def normalise(tag: str | None) -> str | None:
    """'zh-CN', 'zh_cn', 'zh-Hans', 'zh' -> 'zh-CN'; 'en-US' -> 'en'; anything else -> None."""
    if not tag:
        return None
    parts = tag.split(".", 1)[0].split("@", 1)[0].replace("_", "-").strip().lower().split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] == "zh" and not {"hant", "tw", "hk", "mo"} & set(parts[1:]):
        return "zh-CN"
    return None


def from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The locale the environment asks for, gettext's way (as gateway/i18n.py): the first of LANGUAGE
    (a colon list), LC_ALL, LC_MESSAGES, LANG that is set decides; None when it names nothing we have."""
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
    """The supported locale ranked highest by an Accept-Language header (q-values); None if none is."""
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
    for c in candidates:
        found = normalise(c)
        if found:
            return found
    return DEFAULT


@lru_cache(maxsize=8)
def translation(locale: str) -> gettext.NullTranslations:
    if locale == DEFAULT:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[locale.replace("-", "_")], fallback=True)


def gettext_for(locale: str) -> Any:
    """The ``gettext`` function of one locale (the receiver serves many banks at once: no global)."""
    return translation(resolve(locale)).gettext


# The CLI's language (``edgeproof cloud ...``, ``edgeproof feed ...``): one operator, one process, so
# one locale from the environment. HTTP routes never use ``_``: they choose per request (gettext_for).
_cli_locale = resolve(from_env())


def set_locale(locale: str | None) -> str:
    """Switch the CLI's messages; returns the locale now in force."""
    global _cli_locale
    _cli_locale = resolve(locale)
    return _cli_locale


def get_locale() -> str:
    return _cli_locale


def _(message: str) -> str:
    """A CLI message in the operator's language (the environment's; docs/i18n.md)."""
    return translation(_cli_locale).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translation(_cli_locale).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """A short word whose meaning depends on what it is about (``pgettext("dispute status", "rejected")``
    and ``pgettext("batch status", "rejected")`` may read differently); Babel extracts it with its context."""
    return translation(_cli_locale).pgettext(context, message)


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
