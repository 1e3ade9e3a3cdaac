"""The release key: an Ed25519 key that signs release bundles on the build side, and the
public half pinned on each gateway at install time.

The private key never goes near a gateway; the gateway holds only the pinned public key, so
a stolen or copied SD card cannot mint updates for the fleet.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from nacl.exceptions import CryptoError
from nacl.signing import SigningKey, VerifyKey

from gateway.i18n import N_
from gateway.update.errors import UpdateError

PINNED_KEY_FILE = "release.pub"
PRIVATE_HEADER = "edgeproof-release-private-key-v1"
PUBLIC_HEADER = "edgeproof-release-public-key-v1"


def key_id(public: bytes) -> str:
    """A short, stable name for a public key (shown, logged, put in the signature file)."""
    return hashlib.sha256(public).hexdigest()[:16]


def generate(path: Path) -> VerifyKey:
    """Create a release key at ``path`` (0600, refusing to overwrite) and ``path``.pub beside it."""
    if path.exists():
        raise UpdateError(N_("{path}: already exists; refusing to overwrite a release key"), path=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{PRIVATE_HEADER}\n{base64.b64encode(bytes(key)).decode()}\n")
        f.flush()
        os.fsync(f.fileno())
    write_public(Path(f"{path}.pub"), key.verify_key)
    return key.verify_key


def write_public(path: Path, public: VerifyKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{PUBLIC_HEADER}\n{base64.b64encode(bytes(public)).decode()}\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _read(path: Path, header: str, size: int) -> bytes:
    try:
        lines = path.read_text().split()
    except OSError as exc:
        raise UpdateError(N_("{path}: cannot read ({strerror})"), path=path, strerror=exc.strerror) from exc
    if len(lines) != 2 or lines[0] != header:
        raise UpdateError(N_("{path}: not a release key file (expected first line '{header}')"),
                          path=path, header=header)
    try:
        raw = base64.b64decode(lines[1], validate=True)
    except ValueError as exc:
        raise UpdateError(N_("{path}: key is not base64"), path=path) from exc
    if len(raw) != size:
        raise UpdateError(N_("{path}: key has {n_raw} bytes, expected {size}"), path=path, n_raw=len(raw), size=size)
    return raw


def load_private(path: Path) -> SigningKey:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0
    if mode & 0o077:
        raise UpdateError(N_("{path}: release key is readable by others (mode {value}); expected 0600"),
                          path=path, value=oct(mode))
    return SigningKey(_read(path, PRIVATE_HEADER, 32))


def load_public(path: Path) -> VerifyKey:
    try:
        return VerifyKey(_read(path, PUBLIC_HEADER, 32))
    except CryptoError as exc:  # pragma: no cover - 32 bytes are always a syntactically valid key
        raise UpdateError(N_("{path}: not an Ed25519 public key"), path=path) from exc


def pin(source: Path, pinned_path: Path, replace: bool = False) -> VerifyKey:
    """Pin the release public key on a gateway (validated first). Replacing a different pinned key
    (a key rotation) needs ``replace``: it decides which bundles the gateway will run."""
    public = load_public(source)
    if pinned_path.exists() and not replace:
        old = load_public(pinned_path)
        if bytes(old) != bytes(public):
            raise UpdateError(N_("{pinned_path}: release key {value} is pinned already; pinning {value2} instead "
                                 "needs --replace (a key rotation)"),
                              pinned_path=pinned_path, value=key_id(bytes(old)), value2=key_id(bytes(public)))
    write_public(pinned_path, public)
    return public
