"""Texts made once in English and rendered again in the reader's language: the bank verifier's failures and
notices, the receiver's error messages.

``feed verify --json`` prints ``failures`` and ``notices`` as English strings, and that output is a
contract: the same bytes in every language. A risk officer reading ``feed verify`` without ``--json``
reads them in Chinese. The same holds for a ``ReceiverError``'s message: English in HTTP bodies and
logs, the operator's language where ``edgeproof cloud ...`` prints it. So each text is made once, as a
:class:`Msg`: a ``str`` (the English text, what JSON and logs carry) that also keeps its English template
and its parameters, so the CLI can render it again through the receiver's catalog
(``Msg.render(gettext)``; docs/i18n.md). A parameter that is itself a ``Msg`` (a failure inside a
failure) or an exception carrying one is rendered the same way.

Standard library only, like feed_verify.py: a bank that vendors the verifier vendors this file with it
and need not translate anything (``str(m)`` is the English text). Templates are marked for extraction by
the call name ``msg`` (scripts/i18n.py passes ``-k msg``); a test fails when a verifier failure is
reported without one (tests/cloud/test_feed_verify_i18n.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Gettext = Callable[[str], str]


class Msg(str):
    """An English text that remembers how it was made: ``template.format(**params)``.

    Keep placeholders simple (``{name}``, no format specs): format the values before passing them,
    so a translation only moves placeholders around."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, /, **params: Any) -> Msg:
        self = super().__new__(cls, template.format(**params))
        self.template = template
        # an exception is kept as its text (a Msg where it carries one): no traceback held, copies and pickles
        self.params = {k: _exception_text(v) if isinstance(v, BaseException) else v for k, v in params.items()}
        return self

    def render(self, gettext: Gettext) -> str:
        """This text in the language of ``gettext`` (a catalog's ``gettext``; the identity gives English)."""
        return gettext(self.template).format(**{k: render(v, gettext) for k, v in self.params.items()})

    def __reduce__(self) -> tuple[Any, ...]:  # copy/pickle keep the template, not only the English text
        return (_rebuild, (self.template, self.params))


def _exception_text(exc: BaseException) -> Any:
    """``str(exc)``, as a Msg when the exception carries one (``WireError(code, msg(...))``: "code: text")."""
    message = getattr(exc, "message", None)
    if isinstance(message, Msg):
        code = getattr(exc, "code", None)
        return Msg("{code}: {message}", code=code, message=message) if code else message
    if len(exc.args) == 1 and isinstance(exc.args[0], Msg):
        return exc.args[0]
    return str(exc)


def _rebuild(template: str, params: dict[str, Any]) -> Msg:
    return Msg(template, **params)


def msg(template: str, /, **params: Any) -> Msg:
    """A failure or notice text (the name Babel extracts): ``msg("batch {batch}: both shown", batch=h)``."""
    return Msg(template, **params)


class Joined(str):
    """Several texts in one, ``sep``-separated (``"; ".join``), each rendered in the reader's language."""

    items: tuple[Any, ...]
    sep: str

    def __new__(cls, items: Any, sep: str = "; ") -> Joined:
        items = tuple(items)
        self = super().__new__(cls, sep.join(str(i) for i in items))
        self.items, self.sep = items, sep
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Joined, (self.items, self.sep))


def render(value: Any, gettext: Gettext) -> str:
    """Any failure text, parameter or exception in the language of ``gettext``: a :class:`Msg` through the
    catalog; an exception whose ``message`` is a ``Msg`` (``WireError(code, msg(...))``) as ``code: text``;
    anything else as it is (``str``)."""
    if isinstance(value, Msg):
        return value.render(gettext)
    if isinstance(value, Joined):
        return value.sep.join(render(i, gettext) for i in value.items)
    template, params = getattr(value, "template", None), getattr(value, "params", None)
    if isinstance(template, str) and isinstance(params, dict):  # a marked text of the shared wire package
        return Msg(template, **params).render(gettext)  # (gateway/wire/systemd_unit.py: InstallError, Words)
    if isinstance(value, BaseException):  # ReceiverError, WireError ("code: message"), BackupError(msg(...)), ...
        return render(_exception_text(value), gettext)
    return str(value)
