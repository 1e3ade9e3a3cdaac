"""The gateway's identity: a key made on the device (an Ed25519 file, or a TPM key), and its enrollment.

The private key is written once with mode 0600 (O_EXCL, so init never overwrites a key)
and is never logged, printed, served or sent; only the public key and its id leave.
With ``key_store="tpm"`` there is no key file at all: the key is made inside the TPM and
identity.json names where it lives (gateway/signer_tpm.py). Every signature goes through
``Identity.signer`` (gateway/signer.py).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from gateway import wire
from gateway.i18n import N_
from gateway.signer import Ed25519FileSigner, Signer
from gateway.user_error import UserError

KEY_FILE = "gateway.key"
IDENTITY_FILE = "identity.json"
ENROLLMENT_FILE = "enrollment.json"


class IdentityError(UserError, RuntimeError):
    """No usable identity or enrollment; the message says which and what to run."""


@dataclass
class Identity:
    gateway_id: str
    kid: str
    public_key: bytes
    signer: Signer
    enrollment: dict[str, Any] | None

    def __post_init__(self) -> None:
        if isinstance(self.signer, SigningKey):  # callers from before signers hand the PyNaCl key itself
            self.signer = Ed25519FileSigner(self.signer)

    @property
    def signing_key(self) -> SigningKey:
        """The Ed25519 key of a file identity (code from before signers); a TPM key has none to give."""
        if isinstance(self.signer, Ed25519FileSigner):
            return self.signer.signing_key
        raise IdentityError(N_("this gateway's key lives in a TPM: sign through Identity.signer"))

    @property
    def protection(self) -> str:
        """Where the private key lives: "file" or "tpm"."""
        return self.signer.protection

    @property
    def enterprise_id(self) -> str | None:
        return self.enrollment.get("enterprise_id") if self.enrollment else None

    def __repr__(self) -> str:  # never let a key reach a log line through repr()
        return f"Identity(gateway_id={self.gateway_id!r}, kid={self.kid!r})"


def write_json_atomic(path: Path, obj: Any, mode: int = 0o644) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def init_identity(state_dir: Path, gateway_id: str | None = None, site_id: str = "gw", *,
                  key_store: str = "file", tpm_tcti: str | None = None, tpm_handle: int | None = None) -> Identity:
    """Make this gateway's key: an Ed25519 file (default) or, with ``key_store="tpm"``, a TPM key.

    Never touches an existing identity: a state directory holding a key or identity.json is
    refused before anything is made, and a TPM that is absent or refuses leaves nothing behind."""
    key_path = state_dir / KEY_FILE
    for existing in (key_path, state_dir / IDENTITY_FILE):
        if existing.exists():
            raise IdentityError(N_("{path} already exists: this gateway is initialised (delete the state directory "
                                   "to start over with a new identity)"), path=existing)
    if key_store not in ("file", "tpm"):
        raise IdentityError(N_("--key-store {key_store}: expected file or tpm"), key_store=f'{key_store!r}')
    gid = gateway_id or f"{site_id}-{secrets.token_hex(4)}"
    if key_store == "tpm":
        from gateway import signer_tpm

        try:
            made = signer_tpm.create_key(tpm_tcti or signer_tpm.DEFAULT_TCTI,
                                         signer_tpm.DEFAULT_HANDLE if tpm_handle is None else tpm_handle)
        except signer_tpm.TpmError as exc:
            raise IdentityError(N_("{error}"), error=exc) from exc
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        pk = wire.unb64(made["public_key"], "public_key")
        write_json_atomic(state_dir / IDENTITY_FILE, {**made, "gateway_id": gid, "kid": wire.key_id(pk)})
        return load_identity(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    sk = SigningKey.generate()
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(bytes(sk))
        fh.flush()
        os.fsync(fh.fileno())
    pk = bytes(sk.verify_key)
    write_json_atomic(state_dir / IDENTITY_FILE,
                      {"gateway_id": gid, "kid": wire.key_id(pk), "public_key": wire.b64(pk)})
    return load_identity(state_dir)


def tpm_identity(state_dir: Path) -> dict[str, Any] | None:
    """identity.json of a gateway whose key lives in a TPM (no key file), else None."""
    path = state_dir / IDENTITY_FILE
    if (state_dir / KEY_FILE).exists() or not path.exists():
        return None
    try:
        ident = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return ident if isinstance(ident, dict) and ident.get("key_store") == "tpm" else None


def has_key(state_dir: Path) -> bool:
    """Whether ``init`` made a key here: a key file, or a TPM key named by identity.json."""
    return (state_dir / KEY_FILE).exists() or tpm_identity(state_dir) is not None


def load_identity(state_dir: Path) -> Identity:
    key_path = state_dir / KEY_FILE
    tpm = tpm_identity(state_dir)
    if tpm is not None:
        return _load_tpm_identity(state_dir, tpm)
    try:
        st = key_path.stat()
    except FileNotFoundError as exc:
        raise IdentityError(N_("no key at {path}: run `edgeproof init` first"), path=key_path) from exc
    if st.st_mode & 0o077:
        raise IdentityError(N_("{path} is readable by others (mode {mode}); run chmod 600 on it"),
                            path=key_path, mode=oct(st.st_mode & 0o777))
    seed = key_path.read_bytes()
    if len(seed) != 32:
        raise IdentityError(N_("{path} is not a 32-byte Ed25519 seed"), path=key_path)
    sk = SigningKey(seed)
    ident = json.loads((state_dir / IDENTITY_FILE).read_text())
    enr_path = state_dir / ENROLLMENT_FILE
    enrollment = json.loads(enr_path.read_text()) if enr_path.exists() else None
    pk = bytes(sk.verify_key)
    if wire.key_id(pk) != ident["kid"]:
        raise IdentityError(N_("{identity} names a different key than {path}"),
                            identity=state_dir / IDENTITY_FILE, path=key_path)
    return Identity(ident["gateway_id"], ident["kid"], pk, Ed25519FileSigner(sk), enrollment)


def _load_tpm_identity(state_dir: Path, ident: dict[str, Any]) -> Identity:
    from gateway import signer_tpm

    try:
        signer = signer_tpm.TpmSigner(str(ident["tcti"]), int(str(ident["tpm_handle"]), 0), expect_kid=ident["kid"])
    except signer_tpm.TpmError as exc:
        raise IdentityError(N_("{value}: {error}"), value=state_dir / IDENTITY_FILE, error=exc) from exc
    enr_path = state_dir / ENROLLMENT_FILE
    enrollment = json.loads(enr_path.read_text()) if enr_path.exists() else None
    return Identity(ident["gateway_id"], ident["kid"], signer.public_key, signer, enrollment)


def key_store_claim(ident: Identity, token: str) -> dict[str, Any]:
    """What enrollment says about where the key lives: ``{"protection": "file"}``, or for a TPM key its
    public area and a TPM2_Certify over a nonce bound to this token and gateway (wire.attestation_nonce)."""
    if ident.protection != "tpm":
        return {"protection": "file"}
    from gateway.signer_tpm import TpmError, TpmSigner

    assert isinstance(ident.signer, TpmSigner)
    try:
        return {"protection": "tpm", **ident.signer.attest(wire.attestation_nonce(token, ident.gateway_id))}
    except TpmError:  # no attestation key to be had (e.g. the endorsement hierarchy has a password): the public
        # area alone, which the receiver records as "tpm" (claimed), not "tpm-attested"
        return {"protection": "tpm", "tpm_public": wire.b64(ident.signer.public_area)}


def enroll(state_dir: Path, receiver_url: str, token: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """Register the public key with the receiver using a one-time token."""
    import urllib.error
    import urllib.request

    ident = load_identity(state_dir)
    proof = wire.sign_enrollment(token, ident.gateway_id, ident.signer)
    claim = key_store_claim(ident, token)
    payload = json.dumps({"token": token, "gateway_id": ident.gateway_id, "key_store": claim,
                          "public_key": wire.b64(ident.public_key), "proof": wire.b64(proof)}).encode()
    req = urllib.request.Request(receiver_url.rstrip("/") + "/v1/enroll", data=payload, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read())
        except ValueError:
            detail = {"message": str(exc)}
        raise IdentityError(N_("enrollment refused by {url}: {code}: {message}"),
                            url=receiver_url, code=detail.get("code", exc.code),
                            message=detail.get("message", "")) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise IdentityError(N_("cannot reach receiver {url}: {error}"), url=receiver_url, error=exc) from exc
    answer["receiver_url"] = receiver_url
    write_json_atomic(state_dir / ENROLLMENT_FILE, answer)
    return answer
