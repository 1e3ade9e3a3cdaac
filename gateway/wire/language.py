"""Language negotiation, shared by the gateway (CLI, status page) and the receiver (CLI, rendered feed routes).

Which language a person gets is part of the HTTP contract (``Accept-Language``, RFC 9110 §12.5.4) and of the
CLI's (gettext's LANGUAGE / LC_ALL / LC_MESSAGES / LANG), and both sides must answer the same header the
same way. It lives in the wire package because that is the one part of the gateway the receiver may import
(the import-linter allow-list); like the rest of the package it needs only the standard library.

Only two catalogs exist: English (the messages as written) and simplified Chinese; :class:`Catalog` loads a
domain's compiled ones (the gateway's ``edgeproof``, the receiver's ``edgeproof_receiver``). Every parser here maps
whatever it is given to one of :data:`SUPPORTED` or ``None`` and never raises, whatever a client sends.
"""

from __future__ import annotations

import gettext
import math
import os
import threading
from collections.abc import Mapping
from pathlib import Path

DEFAULT = "en"
SUPPORTED = ("en", "zh-CN")
ENV_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
# Traditional-script or Taiwan/Hong Kong/Macau tags are not simplified Chinese: there is no catalog for them.
_NOT_SIMPLIFIED = frozenset({"hant", "tw", "hk", "mo"})


def normalise(tag: str | None) -> str | None:
    """'zh_CN.UTF-8', 'zh-cn', 'zh-Hans-CN', 'zh' -> 'zh-CN'; 'en_GB' -> 'en'; C, POSIX, '*', others -> None."""
    if not tag:
        return None
    parts = tag.split(".", 1)[0].split("@", 1)[0].replace("_", "-").strip().lower().split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] == "zh" and not _NOT_SIMPLIFIED & set(parts[1:]):
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


def _quality(params: str) -> float:
    """The ``q`` weight of one Accept-Language member (1 when absent). A weight that is not a number from
    0 to 1 (RFC 9110 §12.4.2) is malformed and counts as 0, so ``en;q=5`` cannot outrank ``zh-CN``."""
    for p in params.split(";"):
        k, _eq, v = p.strip().partition("=")
        if k.strip().lower() == "q":
            try:
                q = float(v.strip())
            except ValueError:
                return 0.0
            return q if math.isfinite(q) and 0.0 <= q <= 1.0 else 0.0
    return 1.0


def from_accept_language(header: str | None) -> str | None:
    """The supported locale a browser ranks highest (q-values; the earlier of equal weights); None if none
    is. A wildcard (``*``) names no catalog of its own, so it leaves the choice to the caller's fallback."""
    best: tuple[float, int, str] | None = None
    for i, part in enumerate((header or "").split(",")):
        tag, _sep, params = part.strip().partition(";")
        q = _quality(params)
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


class Catalog:
    """One gettext domain's compiled catalogs (``<locale_dir>/<ll_CC>/LC_MESSAGES/<domain>.mo``) and the locale of
    this process's own messages (the CLI's: one operator, one process). English is the messages as written.
    Pages and feeds that serve many people at once ask :meth:`translation` per request instead."""

    def __init__(self, domain: str, locale_dir: Path) -> None:
        self.domain, self.locale_dir = domain, locale_dir
        self._loaded: dict[str, gettext.NullTranslations] = {}
        self._lock = threading.Lock()
        self.locale = resolve(from_env())

    def translation(self, locale: str) -> gettext.NullTranslations:
        """The compiled catalog for a supported locale (loaded once)."""
        with self._lock:
            found = self._loaded.get(locale)
            if found is None:
                found = gettext.NullTranslations() if locale == DEFAULT else gettext.translation(
                    self.domain, self.locale_dir, languages=[locale.replace("-", "_")], fallback=True)
                self._loaded[locale] = found
            return found

    def set_locale(self, locale: str | None) -> str:
        """Switch this process's messages; returns the locale now in force (unsupported: English)."""
        self.locale = resolve(locale)
        return self.locale

    def get_locale(self) -> str:
        return self.locale

    def gettext(self, message: str) -> str:
        return self.translation(self.locale).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translation(self.locale).ngettext(singular, plural, n)
