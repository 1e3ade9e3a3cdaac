"""The transport interface: deliver one envelope, return the receiver's verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from gateway.user_error import UserError


class TransportError(UserError):
    """Not delivered (network, broker, timeout): retry later, same bytes, same order."""


@dataclass
class Ack:
    status: str  # accepted | duplicate | rejected
    seq: int | None = None
    code: str | None = None
    message: str | None = None
    expected_seq: int | None = None
    raw: dict[str, Any] | None = None

    @property
    def delivered(self) -> bool:
        return self.status in ("accepted", "duplicate")

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Ack:
        return cls(status=str(obj.get("status", "rejected")), seq=obj.get("seq"), code=obj.get("code"),
                   message=obj.get("message"), expected_seq=obj.get("expected_seq"), raw=obj)


class Transport(Protocol):
    name: str

    async def send(self, seq: int, batch_hash: str, envelope: bytes) -> Ack: ...

    async def close(self) -> None: ...
