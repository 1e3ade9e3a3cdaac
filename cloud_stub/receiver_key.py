"""The receiver's own Ed25519 key, which signs bank feed pages.

Stored as the raw 32-byte seed in a file created with mode 0600 (never wider, not even
for an instant: the file is opened with O_EXCL and that mode). The key is never logged.
"""

from __future__ import annotations

import os
from pathlib import Path

from nacl.signing import SigningKey

from cloud_stub.texts import msg
from gateway import wire


def default_key_path(db_path: str | Path) -> Path:
    """Next to the database, so one receiver's state lives in one directory."""
    return Path(f"{db_path}.receiver.key")


def load_or_create(path: str | Path) -> SigningKey:
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ValueError(msg("{path} is readable by others (mode {mode}); run chmod 600 on it", path=path,
                                 mode=oct(mode))) from None
        seed = path.read_bytes()
        if len(seed) != 32:
            raise ValueError(msg("{path} is not a 32-byte Ed25519 seed", path=path)) from None
        return SigningKey(seed)
    key = SigningKey.generate()
    with os.fdopen(fd, "wb") as fh:
        fh.write(bytes(key))
    return key


def public_info(key: SigningKey) -> dict[str, str]:
    public = bytes(key.verify_key)
    return {"kid": wire.key_id(public), "public_key": wire.b64(public)}
