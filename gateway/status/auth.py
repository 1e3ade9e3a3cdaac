"""Password for the status page: HTTP Basic checked against a salted scrypt hash.

The password file holds one line ``scrypt$N$r$p$<salt b64>$<hash b64>``, never the
password itself, so a copied SD card or a backup does not leak it. scrypt is in the
standard library (hashlib) and costs ~16 MB and tens of milliseconds per check on a
Pi, so a verified Authorization header is remembered (as its SHA-256, in memory) and
the browser's follow-up requests do not pay the cost again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from pathlib import Path

from gateway.i18n import N_
from gateway.user_error import UserError

SCHEME = "scrypt"
# N=2**14, r=8: ~16 MB of memory per check; fits a Pi Zero 2 W's 512 MB.
DEFAULT_N, DEFAULT_R, DEFAULT_P = 2**14, 8, 1


class PasswordFileError(UserError, ValueError):
    """The password file is missing, unreadable or not in the expected format."""


def hash_password(password: str, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return "$".join([SCHEME, str(n), str(r), str(p), base64.b64encode(salt).decode(),
                     base64.b64encode(digest).decode()])


def write_password_file(path: Path, password: str) -> None:
    """Write the hash with mode 0600 (replace atomically so a reader never sees half a line)."""
    if not password:
        raise PasswordFileError(N_("an empty password would not protect anything"))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(hash_password(password) + "\n")
    os.replace(tmp, path)


def parse_hash(line: str) -> tuple[int, int, int, bytes, bytes]:
    parts = line.strip().split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise PasswordFileError(N_("expected one line 'scrypt$N$r$p$salt$hash' (make it with `edgeproof status "
                                   "set-password --file FILE`); plain passwords are refused"))
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError as exc:
        raise PasswordFileError(N_("malformed scrypt line: {error}"), error=exc) from exc
    if n < 2**10 or n & (n - 1) or len(salt) < 8 or len(digest) < 16:
        raise PasswordFileError(N_("scrypt parameters too weak or malformed"))
    return n, r, p, salt, digest


def verify_password(password: str, stored: str) -> bool:
    n, r, p, salt, digest = parse_hash(stored)
    got = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(digest),
                         maxmem=256 * 1024 * 1024)
    return hmac.compare_digest(got, digest)


class BasicAuth:
    """Checks ``Authorization: Basic ...`` headers against the password file.

    Any user name is accepted: there is one role (read-only staff) and one password.
    The file is read at start so a bad file fails loudly when the gateway starts, not
    on the first visitor.
    """

    realm = "EdgeProof gateway status"

    def __init__(self, password_file: Path) -> None:
        try:
            self.stored = Path(password_file).read_text().strip()
        except OSError as exc:
            raise PasswordFileError(N_("cannot read status password file {password_file}: {strerror}"),
                                    password_file=password_file, strerror=exc.strerror) from exc
        parse_hash(self.stored)
        self._ok: set[str] = set()
        self._lock = threading.Lock()
        # One scrypt at a time: each costs ~16 MB, and a burst of wrong passwords must not
        # exhaust a Pi Zero's 512 MB.
        self._slot = threading.Semaphore(1)

    def check(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        fingerprint = hashlib.sha256(header.encode("utf-8", "replace")).hexdigest()
        with self._lock:
            if fingerprint in self._ok:
                return True
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False
        _, _, password = decoded.partition(":")
        if not self._slot.acquire(timeout=10):
            return False
        try:
            ok = verify_password(password, self.stored)
        finally:
            self._slot.release()
        if ok:
            with self._lock:
                if len(self._ok) > 64:
                    self._ok.clear()
                self._ok.add(fingerprint)
            return True
        time.sleep(0.2)  # slows down guessing a little on top of scrypt's own cost
        return False
