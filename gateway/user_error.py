"""Errors a person reads: an English message for logs, a template and parameters for the screen.

An exception that reaches the CLI or the status page is translated where it is shown, not where
it is raised: library code raises and logs in English (docs/i18n.md: log lines stay English),
the edge calls :func:`gateway.i18n.render`. So an error carries its message as a template marked
for extraction with ``N_`` plus named parameters::

    raise UpdateError(N_("{file}: not a readable release bundle (tar: {error})"), file=bundle, error=exc)

``str(exc)`` is the English text (``template.format(**params)``); ``render(exc)`` is the same in the
reader's language, with every parameter that is itself such an error rendered too. drivers/ and
inference/ may not import the gateway (import-linter), so they carry the same two attributes
(``template``, ``params``) on their own errors: ``render`` relies on the attributes, not on this class.
"""

from __future__ import annotations

from typing import Any

from gateway.i18n import N_


def english(template: str, params: dict[str, Any]) -> str:
    """The template filled in as written (a template with a missing parameter still says something)."""
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


class UserError(Exception):
    """Base for errors whose text a person reads; ``template`` is an ``N_`` marked message."""

    def __init__(self, template: str, /, **params: Any) -> None:
        self.template, self.params = template, params
        super().__init__(english(template, params))


class KeyedError(UserError):
    """A file (or input) that cannot be used: ``file: key: expected``, the expectation translated.

    ``expected`` stays the English expectation for callers and logs; the template and its
    parameters are what the reader's language is made from."""

    WHERE = N_("{file}: {key}: {expected}")

    def __init__(self, file: object, key: str, expected: object, /, **params: Any) -> None:
        if not isinstance(expected, str):  # a marked message with its values (a driver's check, msgspec's words)
            expected, params = expected.template, {**expected.params, **params}  # type: ignore[attr-defined]
        self.file, self.key = str(file), key
        self.expected = english(expected, params)
        self.expected_template, self.expected_params = expected, params
        Exception.__init__(self, f"{self.file}: {key}: {self.expected}")
        self.template = self.WHERE
        self.detail = Part(expected, params)  # the expectation alone (a CLI option names the key itself)
        self.params = {"file": self.file, "key": key, "expected": self.detail}


class Part:
    """A translatable piece nested in another message (a KeyedError's expectation)."""

    def __init__(self, template: str, params: dict[str, Any] | None = None) -> None:
        self.template, self.params = template, dict(params or {})

    def __str__(self) -> str:
        return english(self.template, self.params)
