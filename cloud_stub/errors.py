"""The one error type the receiver's services raise; transports turn it into a response.

Keeping HTTP status beside the stable ``code`` here means the HTTP API, the MQTT acks
and the CLI report the same reason for the same failure.
"""

from __future__ import annotations

from typing import Any


class ReceiverError(Exception):
    """A refused request: ``code`` is stable and machine-readable, ``message`` is for people."""

    def __init__(self, code: str, message: str, http_status: int = 400, status: str = "rejected",
                 **extra: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status
        self.status = status
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "message": self.message, **self.extra}
