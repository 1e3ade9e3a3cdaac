"""Every signature the gateway makes goes through one Signer: a key file, or a TPM that never lets its key out.

Batches, batch heads, head statements, health summaries (records in a batch), enrollment proofs,
signed requests and destruction certificates are all signed with ``Identity.signer`` through
``gateway/wire/__init__.py`` (``wire.signature``). A Signer holds or reaches a private key and answers only
with signatures; the public key, its id, its algorithm and where it lives (``protection``) are
what leaves the device.

* :class:`Ed25519FileSigner`: the default, a 32-byte Ed25519 seed in ``gateway.key`` (0600).
  ``protection = "file"``: whoever copies the file can sign as this gateway.
* ``gateway/signer_tpm.py`` ``TpmSigner``: an ECDSA P-256 key made inside a TPM 2.0 and kept there
  (fixedtpm|fixedparent|sensitivedataorigin), ``protection = "tpm"``.
"""

from __future__ import annotations

from typing import Protocol

from nacl.signing import SigningKey

from gateway import wire


class Signer(Protocol):
    """What the gateway signs with. Implementations never expose their private key."""

    alg: str  # wire.ED25519 or wire.P256
    protection: str  # "file" or "tpm": where the private key lives
    public_key: bytes

    def sign_message(self, message: bytes) -> bytes:
        """The 64-byte signature of ``message`` (already carrying its domain prefix)."""
        ...

    def close(self) -> None:
        """Release whatever the signer holds open (a TPM connection)."""
        ...


class Ed25519FileSigner:
    """An Ed25519 key read from a file on the device."""

    alg = wire.ED25519
    protection = "file"

    def __init__(self, key: SigningKey) -> None:
        self._key = key
        self.public_key = bytes(key.verify_key)

    @property
    def signing_key(self) -> SigningKey:
        """The PyNaCl key itself, for code (tests, tools) written before signers existed."""
        return self._key

    def sign_message(self, message: bytes) -> bytes:
        return self._key.sign(message).signature

    def close(self) -> None:
        return None

    def __repr__(self) -> str:  # never let a key reach a log line through repr()
        return f"Ed25519FileSigner(kid={wire.key_id(self.public_key)!r})"
