"""One outside record: validated, digested, and (where its source signs) signature-checked.

A record is ``{"source", "kind", "enterprise_id", "date", "data"}`` (plus an optional
``signature``). Its digest is the SHA-256 of the canonical JSON (gateway/wire/__init__.py) of exactly
those five fields, so the same content always has the same digest whatever the file's layout;
a source that signs signs those same canonical bytes with Ed25519. Validation errors name the
file, the record and the key, and what was expected. Reports cite records by digest.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from cloud_stub.texts import msg
from gateway import wire

KINDS = ("registry", "penalty", "court", "tax", "news")
FIELDS = ("source", "kind", "enterprise_id", "date", "data")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
# Per kind: data key -> expected type ("str", "num", "sentiment"); required keys first.
DATA: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "registry": ({"legal_representative": "str", "registered_capital": "num", "status": "str"},
                 ("legal_representative", "registered_capital")),
    "penalty": ({"authority": "str", "amount": "num", "reason": "str", "decision_no": "str"}, ("authority",)),
    "court": ({"case_no": "str", "role": "role", "amount": "num", "cause": "str"}, ("case_no", "role")),
    "tax": ({"rating": "str", "abnormal": "bool"}, ("rating",)),
    "news": ({"sentiment": "sentiment", "headline": "str", "url": "str", "outlet": "str"}, ("sentiment", "headline")),
}
ROLES = ("defendant", "plaintiff", "third_party")


class RecordError(ValueError):
    """A record that cannot be taken: where it is, which key, what was expected."""

    def __init__(self, where: str, key: str, expected: str, found: Any = None) -> None:
        # English in str(exc); the CLI renders the Msg (and ``expected``, a msg too) in the operator's language
        super().__init__(msg("{where}: {key}: expected {expected}", where=where, key=key, expected=expected)
                         if found is None else msg("{where}: {key}: expected {expected}, found {found}", where=where,
                                                   key=key, expected=expected, found=repr(found)))


@dataclass(frozen=True)
class OutsideRecord:
    content: dict[str, Any]  # the five fields
    sha256: str
    signature: str | None

    @property
    def kind(self) -> str:
        return str(self.content["kind"])


def canonical(content: Mapping[str, Any]) -> bytes:
    return wire.canonical_json({k: content[k] for k in FIELDS})


def digest(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(content)).hexdigest()


def _check_value(where: str, key: str, kind: str, value: Any) -> None:
    if kind == "str" and not (isinstance(value, str) and value.strip()):
        raise RecordError(where, key, msg("a non-empty string"), value)
    if kind == "num" and (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
                          or value < 0):
        raise RecordError(where, key, msg("a finite number >= 0"), value)
    if kind == "sentiment" and (isinstance(value, bool) or not isinstance(value, int | float)
                                or not -1.0 <= float(value) <= 1.0):
        raise RecordError(where, key, msg("a number from -1 (negative) to 1 (positive)"), value)
    if kind == "role" and value not in ROLES:
        raise RecordError(where, key, msg("one of {items}", items=', '.join(ROLES)), value)
    if kind == "bool" and not isinstance(value, bool):
        raise RecordError(where, key, msg("true or false"), value)


def parse(raw: Any, where: str, source: str | None = None) -> OutsideRecord:
    """Validate one raw record (a JSON object); ``source`` fills or must equal its ``source``."""
    if not isinstance(raw, dict):
        raise RecordError(where, "(record)", msg("a JSON object"), type(raw).__name__)
    extra = sorted(set(raw) - {*FIELDS, "signature"})
    if extra:
        raise RecordError(where, extra[0], msg("only the keys {items}, signature", items=', '.join(FIELDS)))
    content = dict(raw)
    sig = content.pop("signature", None)
    if source is not None:
        if content.get("source", source) != source:
            raise RecordError(where, "source", msg("{source} (the source imported)",
                                                   source=repr(source)), content.get("source"))
        content["source"] = source
    for key in FIELDS:
        if key not in content:
            raise RecordError(where, key, msg("this key (it is required)"))
    if not isinstance(content["source"], str) or not _NAME.match(content["source"]):
        raise RecordError(where, "source", msg("a plain lower-case name"), content["source"])
    if content["kind"] not in KINDS:
        raise RecordError(where, "kind", msg("one of {items}", items=', '.join(KINDS)), content["kind"])
    if not isinstance(content["enterprise_id"], str) or not content["enterprise_id"]:
        raise RecordError(where, "enterprise_id", msg("a non-empty string"), content["enterprise_id"])
    try:
        date.fromisoformat(content["date"])
        if len(content["date"]) != 10:
            raise ValueError
    except (TypeError, ValueError):
        raise RecordError(where, "date", msg("a date YYYY-MM-DD"), content["date"]) from None
    data = content["data"]
    if not isinstance(data, dict):
        raise RecordError(where, "data", msg("a JSON object"), data)
    types, required = DATA[content["kind"]]
    for key in required:
        if key not in data:
            raise RecordError(where, f"data.{key}", msg("this key (required for kind {kind})", kind=content['kind']))
    for key, value in data.items():
        if key not in types:
            raise RecordError(where, f"data.{key}", msg("one of {items} for kind {kind}", items=', '.join(types),
                                                        kind=content['kind']))
        _check_value(where, f"data.{key}", types[key], value)
    if sig is not None and not isinstance(sig, str):
        raise RecordError(where, "signature", msg("base64 text (Ed25519 over the record's canonical JSON)"), sig)
    try:
        content_sha = digest(content)
    except wire.WireError as exc:
        raise RecordError(where, "(record)", msg("plain JSON values"), exc.message) from exc
    return OutsideRecord(content, content_sha, sig)


def check_signature(rec: OutsideRecord, public_key: bytes | None, where: str) -> bool | None:
    """True when the record's signature verifies under its source's key; None when the source has no
    key and the record no signature. A source with a key must sign; a signature nobody can check is refused."""
    if public_key is None:
        if rec.signature is not None:
            raise RecordError(where, "signature", msg("no signature (source {source} has no public key "
                                                      "registered: `edgeproof cloud outside source add "
                                                      "--public-key`)", source=repr(rec.content['source'])))
        return None
    if rec.signature is None:
        raise RecordError(where, "signature", msg("an Ed25519 signature (source {source} signs)",
                                                  source=repr(rec.content['source'])))
    try:
        VerifyKey(public_key).verify(canonical(rec.content), wire.unb64(rec.signature, "signature"))
    except (BadSignatureError, wire.WireError, ValueError) as exc:
        raise RecordError(where, "signature", msg("a valid signature by the source's key"), str(exc)[:60]) from None
    return True


def sign(content: Mapping[str, Any], key: Any) -> str:
    """A source's signature over a record (tests and sources that use this format)."""
    return wire.b64(key.sign(canonical(content)).signature)
