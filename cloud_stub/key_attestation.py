"""Where an enrolling gateway's key lives: ``file``, ``tpm`` or ``tpm-attested``, checked, not taken on trust.

A bank may require hardware keys (a key in a TPM cannot be copied with the SD card), so the
receiver records, per key, the protection level the enrollment proved (gateway_keys.protection):

* ``file``: an Ed25519 key, or a key whose enrollment claims nothing more. Whoever holds the
  file can sign.
* ``tpm``: a P-256 key whose enrollment carries its TPM public area (TPM2B_PUBLIC) with the
  attributes fixedtpm|fixedparent|sensitivedataorigin|sign and exactly this key's point. This is
  the gateway's statement in the TPM's own format; on its own it is not proof (software can
  write the same bytes).
* ``tpm-attested``: additionally a TPM2_Certify of the key's Name by an attestation key (a
  restricted signing key, fixedtpm|fixedparent|sensitivedataorigin) over the enrollment's nonce
  (wire.attestation_nonce: bound to the one-time token and the gateway id), its signature
  holding. A restricted key signs only attestation structures its TPM made, so *if* the
  attestation key is a genuine TPM's, the signing key is in that TPM. What is not proven here:
  that the attestation key belongs to a genuine TPM. That needs the TPM maker's endorsement-key
  certificate chain and credential activation, which this receiver does not do (swtpm has no
  maker's certificate); docs/wire-format.md says so.

A claim that does not hold (a public area naming another key or lacking the attributes, a
certification that does not verify) refuses the enrollment (``bad_attestation``): a gateway
that says "TPM" and cannot show it is a misconfigured or lying one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass
from typing import Any

from cloud_stub.errors import ReceiverError
from gateway import wire

LEVELS = ("file", "tpm", "tpm-attested")
HARDWARE_LEVELS = ("tpm", "tpm-attested")

TPM_ALG_ECC = 0x0023
TPM_ALG_SHA256 = 0x000B
TPM_ALG_NULL = 0x0010
TPM_ECC_NIST_P256 = 0x0003
TPM_GENERATED_VALUE = 0xFF544347
TPM_ST_ATTEST_CERTIFY = 0x8017
FIXED_TPM, FIXED_PARENT, SENSITIVE_DATA_ORIGIN = 1 << 1, 1 << 4, 1 << 5
RESTRICTED, DECRYPT, SIGN = 1 << 16, 1 << 17, 1 << 18
NON_EXPORTABLE = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN


def _bad(message: str) -> ReceiverError:
    return ReceiverError("bad_attestation", message, 400)


class _Reader:
    """Big-endian TPM marshalling, with a clear error at the first byte that is not there."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise _bad(f"key_store.{self.what}: truncated at byte {self.pos}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def tpm2b(self) -> bytes:
        return self.take(self.u16())


@dataclass(frozen=True)
class TpmPublic:
    """The parts of an ECC TPMT_PUBLIC this receiver checks."""

    tpmt: bytes  # the marshalled TPMT_PUBLIC (what the key's Name hashes)
    attributes: int
    point: bytes  # SEC1 uncompressed

    @property
    def name(self) -> bytes:
        return struct.pack(">H", TPM_ALG_SHA256) + hashlib.sha256(self.tpmt).digest()


def parse_tpm2b_public(data: bytes, what: str) -> TpmPublic:
    """A TPM2B_PUBLIC of an ECC P-256 key with a SHA-256 name; anything else is ``bad_attestation``."""
    outer = _Reader(data, what)
    tpmt = outer.tpm2b()
    if outer.pos != len(data):
        raise _bad(f"key_store.{what}: {len(data) - outer.pos} bytes after the public area")
    r = _Reader(tpmt, what)
    alg, name_alg, attrs = r.u16(), r.u16(), r.u32()
    if alg != TPM_ALG_ECC or name_alg != TPM_ALG_SHA256:
        raise _bad(f"key_store.{what}: expected an ECC key named with SHA-256, got type {alg:#06x} "
                   f"name algorithm {name_alg:#06x}")
    r.tpm2b()  # authPolicy
    if r.u16() != TPM_ALG_NULL:  # symmetric: a signing key has none
        raise _bad(f"key_store.{what}: a signing key has no symmetric algorithm")
    if r.u16() != TPM_ALG_NULL:  # scheme: ECDSA carries its hash
        r.u16()
    if r.u16() != TPM_ECC_NIST_P256:
        raise _bad(f"key_store.{what}: the curve is not NIST P-256")
    if r.u16() != TPM_ALG_NULL:  # kdf
        r.u16()
    x, y = r.tpm2b(), r.tpm2b()
    if r.pos != len(tpmt) or len(x) > 32 or len(y) > 32:
        raise _bad(f"key_store.{what}: malformed ECC point")
    return TpmPublic(tpmt, attrs, b"\x04" + x.rjust(32, b"\x00") + y.rjust(32, b"\x00"))


def _b64(claim: dict[str, Any], field: str) -> bytes:
    text = claim.get(field)
    if not isinstance(text, str) or len(text) > 4096:
        raise _bad(f"key_store.{field} must be a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise _bad(f"key_store.{field} is not valid base64") from exc


def _check_certify(claim: dict[str, Any], key: TpmPublic, nonce: bytes) -> None:
    ak = parse_tpm2b_public(_b64(claim, "ak_public"), "ak_public")
    need = NON_EXPORTABLE | RESTRICTED | SIGN
    if ak.attributes & need != need:
        raise _bad("key_store.ak_public: the attestation key is not a restricted, non-exportable signing key")
    attest = _b64(claim, "certify_info")
    r = _Reader(attest, "certify_info")
    if r.u32() != TPM_GENERATED_VALUE or r.u16() != TPM_ST_ATTEST_CERTIFY:
        raise _bad("key_store.certify_info: not a TPM-generated certification (TPMS_ATTEST, TPM_ST_ATTEST_CERTIFY)")
    r.tpm2b()  # qualifiedSigner
    if r.tpm2b() != nonce:
        raise _bad("key_store.certify_info: made for another enrollment (the nonce is not this token's)")
    r.take(17 + 8)  # clockInfo, firmwareVersion
    if r.tpm2b() != key.name:
        raise _bad("key_store.certify_info: certifies another key than key_store.tpm_public")
    try:
        wire.verify_signature(ak.point, attest, _b64(claim, "certify_sig"))
    except Exception as exc:  # noqa: BLE001 -- nacl's BadSignatureError or a malformed point
        raise _bad("key_store.certify_sig: the attestation key's signature over certify_info does not hold") from exc


def assess(public_key: bytes, claim: Any, token: str, gateway_id: str) -> str:
    """The protection level the enrollment proves for ``public_key`` (one of LEVELS); ``bad_attestation`` when a
    claim is made and does not hold."""
    if claim is None:
        return "file"
    if not isinstance(claim, dict) or claim.get("protection") not in ("file", "tpm"):
        raise _bad("key_store must be an object whose protection is file or tpm")
    if claim["protection"] == "file":
        return "file"
    if wire.key_alg(public_key) != wire.P256:
        raise _bad("key_store.protection is tpm but public_key is not a P-256 key")
    key = parse_tpm2b_public(_b64(claim, "tpm_public"), "tpm_public")
    if key.point != public_key:
        raise _bad("key_store.tpm_public names another key than public_key")
    if key.attributes & (NON_EXPORTABLE | SIGN) != NON_EXPORTABLE | SIGN:
        raise _bad("key_store.tpm_public: the key is not a non-exportable signing key "
                   "(fixedtpm|fixedparent|sensitivedataorigin|sign)")
    if "certify_info" not in claim:
        return "tpm"
    _check_certify(claim, key, wire.attestation_nonce(token, gateway_id))
    return "tpm-attested"
