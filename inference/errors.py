"""Errors the vision stack raises; each names the file or source it is about so an
installer reading a log line knows what to fix without a traceback."""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name, which the extractor looks for
    """Mark a message template for extraction into the gateway's catalog. inference/ may not import the gateway
    (import-linter), so its errors carry ``template`` and ``params`` and ``gateway.i18n.render`` translates them
    where a person reads them (``edgeproof vision``, probe, the status page); ``str()`` stays English for logs."""
    return message


def _fill(template: str, params: dict[str, Any]) -> str:
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


class _Detail:
    def __init__(self, template: str, params: dict[str, Any]) -> None:
        self.template, self.params = template, params

    def __str__(self) -> str:
        return _fill(self.template, self.params)


class VisionError(Exception):
    """Base class for vision errors."""

    template: str = ""
    params: dict[str, Any]

    def _where(self, where: str, message: str, params: dict[str, Any]) -> str:
        self.message = _fill(message, params)
        self.template, self.params = N_("{where}: {message}"), {"where": where, "message": _Detail(message, params)}
        return f"{where}: {self.message}"


class ModelError(VisionError):
    """A model file or its declaration cannot be used (missing, corrupt, wrong checksum...)."""

    def __init__(self, path: object, message: str, /, **params: Any) -> None:
        self.path = str(path)
        super().__init__(self._where(self.path, message, params))


class SourceError(VisionError):
    """A camera/video source cannot be opened or stopped delivering frames."""

    def __init__(self, uri: str, message: str, /, **params: Any) -> None:
        self.uri = uri
        super().__init__(self._where(uri, message, params))


class CorruptFrame(VisionError):
    """One frame could not be decoded; the stream itself is still usable."""

    def __init__(self, message: str, /, **params: Any) -> None:
        self.message = _fill(message, params)
        self.template, self.params = message, params
        super().__init__(self.message)
