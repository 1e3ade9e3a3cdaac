"""The status page's HTML in the visitor's language.

``page.html`` writes every visible string as ``_("...")``; :func:`render` replaces each with
its translation (HTML-escaped) and ``{{lang}}`` with the locale, once per locale.
:func:`extract` is the Babel extractor for the same marks (``babel-gateway.cfg``), so the
file that is rendered and the file that is extracted are read by one pattern.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from typing import IO, Any

MARK = re.compile(r'_\("((?:[^"\\]|\\.)*)"\)')


def _unescape(s: str) -> str:
    return s.replace('\\"', '"').replace("\\\\", "\\")


def render(template: str, gettext: Callable[[str], str], locale: str) -> str:
    out = MARK.sub(lambda m: html.escape(gettext(_unescape(m.group(1))), quote=True), template)
    return out.replace("{{lang}}", locale)


def extract(fileobj: IO[bytes], keywords: Any, comment_tags: Any,
            options: Any) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extraction method: (line number, function name, message, comments) per mark."""
    for lineno, line in enumerate(fileobj.read().decode("utf-8").splitlines(), start=1):
        for m in MARK.finditer(line):
            yield lineno, "_", _unescape(m.group(1)), []
