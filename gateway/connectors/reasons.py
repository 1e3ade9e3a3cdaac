"""Why a row of an export was quarantined: an English text stored with the row, shown in the reader's language.

A connector import keeps each quarantined line with its reason in the store (``erp_quarantine``; the
``ImportReport``), in English: that is data, written once, read later by ``edgeproof import`` and the status
page, in whatever language their reader has, and rows stored by older versions hold the same English. So the
reasons are templates (marked with ``N_``, below and at the raise sites in values.py and units.py, which raise
:class:`RowError`), and where a reason is shown :func:`reason` finds the template and the values in the stored
text, and ``gateway.i18n.render`` / ``as_data`` say it again through the catalog (docs/i18n.md). A text no
template matches (a library's own sentence, a reason of a newer version) is shown as it is.
"""

from __future__ import annotations

import re
import string
from functools import cache
from typing import Any

from gateway.i18n import N_
from gateway.user_error import Part, UserError


class RowError(UserError, ValueError):
    """A cell that does not parse: a ValueError (the importer quarantines the row with ``str(exc)``, English)
    whose template and values are kept for the screen."""


# Every template a stored reason may hold, most specific first (a wrapper such as "{field} ({column}): {error}"
# last). values.py and units.py raise these; the importer's and the expression evaluator's own reasons are listed
# so their stored English is found too (the same text as they write it).
TEMPLATES: tuple[str, ...] = (
    # values.py
    N_("not a number: {raw}"),
    N_("not a finite number: {raw}"),
    N_("not a date: {raw}"),
    N_("not a valid date: {raw} ({error})"),
    N_("implausible date: {raw}"),
    N_("not an in/out direction: {raw} (expected in/out, 入库/出库)"),
    # units.py
    N_("a known unit: {units} (found {found})"),
    N_("a {dimension} unit such as {units} (found {found}, a {other} unit)"),
    # importer.py (rows, products, duplicates)
    N_("more cells than header columns (an unquoted delimiter in a value?)"),
    N_("duplicate key {key} (first on line {line})"),
    N_("product is empty: a product master is declared and shipped parts are counted in {unit}s per product"),
    N_("product {product} is not in the product master ([products.items] in the profile or a products export): "
       "its {field} is unknown"),
    N_("product {product} has no {field} in the product master (counted_unit = {unit})"),
    N_("{field} is negative: {raw}"),
    N_("{field} is missing"),
    N_("{field} is empty"),
    # expressions.py (a column computed by an expression)
    N_("{expr}: division by zero"),
    N_("{expr} gives {out}, not a finite number"),
    N_("{expr} is not an expression ({error})"),
    # the importer's wrapper around all of the above: the field, the export's column, the reason
    N_("{field} ({column}): {error}"),
)
_NESTED = {"error"}  # a value that is itself a reason (rendered too)


@cache
def _pattern(template: str) -> re.Pattern[str]:
    out = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        out.append(re.escape(literal))
        if name is not None:
            out.append(f"(?P<{name}>.+?)")
    return re.compile("".join(out), re.DOTALL)


def parse(text: str) -> tuple[str, dict[str, str]] | None:
    """The template and values a stored reason was made from, or None (shown as it is)."""
    for template in TEMPLATES:
        m = _pattern(template).fullmatch(text)
        if m is not None:
            return template, m.groupdict()
    return None


def reason(text: Any) -> Part | str:
    """A stored reason as a marked message (nested reasons too), for ``gateway.i18n.render`` (the CLI) and
    ``gateway.i18n.as_data`` (the status page's ``msgText``); a text no template matches, as it is."""
    found = parse(str(text))
    if found is None:
        return str(text)
    template, params = found
    return Part(template, {k: reason(v) if k in _NESTED else v for k, v in params.items()})
