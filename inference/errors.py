"""Errors the vision stack raises; each names the file or source it is about so an
installer reading a log line knows what to fix without a traceback."""

from __future__ import annotations


class VisionError(Exception):
    """Base class for vision errors."""


class ModelError(VisionError):
    """A model file or its declaration cannot be used (missing, corrupt, wrong checksum...)."""

    def __init__(self, path: object, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.message = message


class SourceError(VisionError):
    """A camera/video source cannot be opened or stopped delivering frames."""

    def __init__(self, uri: str, message: str) -> None:
        super().__init__(f"{uri}: {message}")
        self.uri = uri
        self.message = message


class CorruptFrame(VisionError):
    """One frame could not be decoded; the stream itself is still usable."""
