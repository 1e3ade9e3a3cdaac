"""User-facing driver messages: marked here, translated by the gateway where a person reads them.

drivers/ may not import the gateway (import-linter: the gateway depends on drivers, never the other way),
so a driver cannot call ``gateway.i18n._``. It marks its message templates with :func:`N_` (extracted into
the gateway's catalog by scripts/i18n.py) and hands them over with their parameters on the error
(``DriverError.template`` / ``.params``); ``gateway.i18n.render`` translates them for ``probe``,
``selftest``, ``status`` and the status page. Log lines use the English ``str(error)``.
"""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name, which the extractor looks for
    """Mark a message template for extraction; the gateway translates it where it is shown."""
    return message


# The kinds of failed read a device counts (DriverError.kind), as probe, status and the status page name them.
KINDS = {"timeout": N_("timeout"), "crc": N_("crc"), "exception": N_("exception"), "short_frame": N_("short_frame"),
         "io": N_("io"), "not_found": N_("not_found"), "implausible": N_("implausible"), "internal": N_("internal")}


def kind_text(kind: str) -> str:
    """The marked display text of a failure kind (the kind itself: the gateway's catalog translates it)."""
    return KINDS.get(kind, kind)


def fill(template: str, params: dict[str, Any]) -> str:
    """The template in English; a template with a missing value still says something."""
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


class Message:
    """A marked template and its values, translated by the gateway (``gateway.i18n.render`` reads
    ``template`` and ``params``); ``str()`` is the English text."""

    def __init__(self, template: str, params: dict[str, Any] | None = None) -> None:
        self.template, self.params = template, dict(params or {})

    def __str__(self) -> str:
        return fill(self.template, self.params)
