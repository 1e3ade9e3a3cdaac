"""What the receiver accepts besides JSON envelopes: ``GET /v1/capabilities``, and decoding compact/zstd batches.

A gateway on a cellular link asks once (gateway/uplink/http.py) and, when ``zstd`` and the compact
type are listed, sends its batches as zstd-compressed compact envelopes (gateway/wire/compress.py).
:func:`decoded` turns such a request body back into the JSON envelope before ingest, so the signed
body bytes reach verification unchanged; a corrupt frame or container is a 400 ``bad_encoding`` and a
body inflating beyond the envelope limit a 400 ``too_large``, with nothing stored.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cloud_stub.errors import ReceiverError
from gateway.wire import compress as wire_compress

router = APIRouter()


@router.get("/v1/capabilities", responses={200: {"description": "The encodings this receiver accepts"}})
def get_capabilities() -> dict[str, Any]:
    """Public: the content encodings, envelope types and MQTT topic suffixes this receiver accepts."""
    return wire_compress.capabilities()


def decoded(data: bytes, content_encoding: str | None, content_type: str | None) -> bytes:
    """The JSON envelope a batch request stands for; :class:`ReceiverError` (400) when it cannot be decoded."""
    try:
        return wire_compress.decode(data, content_encoding, content_type)
    except wire_compress.EncodingError as exc:
        raise ReceiverError(exc.code, exc.message, 400) from None
