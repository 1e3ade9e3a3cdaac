"""Compact, compressed envelopes for cellular links, negotiated with the receiver; what is signed never changes.

A JSON envelope (gateway/wire/__init__.py) carries the signed body and the signature in base64, which
costs a third more bytes and defeats compression. On a 4G/5G link the gateway may instead send:

- the **compact encoding** (``Content-Type: application/vnd.edgeproof.compact``): the same four
  fields in a binary container, the body and signatures as raw bytes;
- **zstd compression** of that (``Content-Encoding: zstd``; MQTT: the topic suffix ``/zstd``).

The receiver undoes both and rebuilds the very JSON envelope the gateway would have sent
(:func:`decode`): the body bytes are the signed bytes, untouched, and verification runs exactly as
before. Only after the receiver says it accepts them (``GET /v1/capabilities``) does a gateway use
them, so an older receiver keeps getting JSON.

Decompression is bounded: output beyond ``limit`` (the envelope size limit) is refused, never
inflated, and a frame may not ask for a window above :data:`MAX_WINDOW`, so a decompression bomb
costs the receiver at most ``limit`` bytes of memory. A corrupt frame or container is a clear
:class:`EncodingError`, never a traceback.

Imports the standard library, :mod:`gateway.wire` and ``zstandard`` only: the receiver uses it too.
"""

from __future__ import annotations

import io
import struct

import zstandard

from gateway import wire

COMPACT_TYPE = "application/vnd.edgeproof.compact"
JSON_TYPE = "application/json"
ZSTD = "zstd"
MQTT_SUFFIX = "/zstd"  # <batches topic>/zstd carries zstd(compact) envelopes
MAGIC = b"EPC1"
MAX_WINDOW = 1 << 23  # 8 MiB: the largest window a frame may ask for
LEVEL = 9


class EncodingError(ValueError):
    """An envelope that cannot be decoded; ``code`` is ``bad_encoding`` or ``too_large``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def to_compact(batch: wire.SignedBatch) -> bytes:
    """The binary container: MAGIC, then kid, body, sig, head_sig each as u32 length + bytes
    (head_sig length 0xFFFFFFFF when absent)."""
    out = bytearray(MAGIC)
    for part in (batch.kid.encode("utf-8"), batch.body, batch.sig):
        out += struct.pack(">I", len(part)) + part
    out += struct.pack(">I", 0xFFFFFFFF) if batch.head_sig is None else struct.pack(">I", len(batch.head_sig))
    if batch.head_sig is not None:
        out += batch.head_sig
    return bytes(out)


def from_compact(data: bytes) -> wire.SignedBatch:
    """A :class:`wire.SignedBatch` from the container; :class:`EncodingError` when it is not one."""
    if not data.startswith(MAGIC):
        raise EncodingError("bad_encoding", f"compact envelope must start with {MAGIC!r}")
    pos, parts = len(MAGIC), []
    for name in ("kid", "body", "sig", "head_sig"):
        if pos + 4 > len(data):
            raise EncodingError("bad_encoding", f"compact envelope ends before its {name} length")
        (n,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if name == "head_sig" and n == 0xFFFFFFFF:
            parts.append(None)
            continue
        if pos + n > len(data):
            raise EncodingError("bad_encoding", f"compact envelope's {name} runs past its end")
        parts.append(data[pos:pos + n])
        pos += n
    if pos != len(data):
        raise EncodingError("bad_encoding", f"{len(data) - pos} bytes after the compact envelope's last field")
    try:
        kid = parts[0].decode("utf-8")  # type: ignore[union-attr]
    except UnicodeDecodeError as exc:
        raise EncodingError("bad_encoding", "compact envelope's kid is not UTF-8") from exc
    return wire.SignedBatch(body=parts[1], sig=parts[2], kid=kid, head_sig=parts[3])  # type: ignore[arg-type]


def compress(data: bytes, level: int = LEVEL) -> bytes:
    return zstandard.ZstdCompressor(level=level).compress(data)


def decompress(data: bytes, limit: int = wire.MAX_ENVELOPE_BYTES) -> bytes:
    """zstd-decompress at most ``limit`` bytes: more is ``too_large`` (read no further), a bad frame
    ``bad_encoding``."""
    dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
    try:
        with dctx.stream_reader(io.BytesIO(data), read_across_frames=False) as reader:
            out = reader.read(limit + 1)
    except zstandard.ZstdError as exc:
        raise EncodingError("bad_encoding", f"body is not a valid zstd frame: {exc}") from None
    if len(out) > limit:
        raise EncodingError("too_large", f"decompressed envelope is over {limit} bytes")
    if not out:
        raise EncodingError("bad_encoding", "zstd frame decompresses to nothing")
    return out


def encode(envelope: bytes, *, compact: bool = True, zstd: bool = True) -> bytes:
    """The bytes a gateway sends for a JSON ``envelope`` under the negotiated encoding."""
    data = to_compact(wire.parse_envelope(envelope)) if compact else envelope
    return compress(data) if zstd else data


def decode(data: bytes, content_encoding: str | None = None, content_type: str | None = None,
           limit: int = wire.MAX_ENVELOPE_BYTES) -> bytes:
    """The JSON envelope a gateway's request stands for (unchanged when neither header asks for more)."""
    enc = (content_encoding or "").strip().lower()
    if enc not in ("", "identity", ZSTD):
        raise EncodingError("bad_encoding", f"Content-Encoding {content_encoding!r} is not one of identity, {ZSTD}")
    if enc == ZSTD:
        data = decompress(data, limit)
    if (content_type or "").split(";")[0].strip().lower() == COMPACT_TYPE:
        envelope = from_compact(data).envelope()
        if len(envelope) > limit:
            raise EncodingError("too_large", f"envelope is {len(envelope)} bytes, limit {limit}")
        return envelope
    return data


def capabilities() -> dict[str, object]:
    """What the receiver accepts (served at ``GET /v1/capabilities``)."""
    return {"content_encodings": [ZSTD], "content_types": [JSON_TYPE, COMPACT_TYPE],
            "mqtt_topic_suffixes": {MQTT_SUFFIX: f"{ZSTD}({COMPACT_TYPE})"},
            "max_envelope_bytes": wire.MAX_ENVELOPE_BYTES}
