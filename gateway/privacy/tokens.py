"""Keyed tokens for names: HMAC-SHA256 under a key generated on site and never sent.

The same name always maps to the same token at one site (so concentration and
per-product trends can be computed and cross-checked over time), while two sites have
different keys, so the receiver cannot link one factory's customer to another's. A plain
hash would not do: anyone could hash a list of likely customer names and match them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from pathlib import Path

from gateway.i18n import N_
from gateway.user_error import UserError

KEY_FILE = "privacy.key"
TOKEN_HEX = 16  # 64 bits: collisions are negligible among one site's few thousand names
_SPACES = re.compile(r"\s+")


class TokenKeyError(UserError, RuntimeError):
    pass


def normalise_name(name: str) -> str:
    """The same counterparty written twice must get one token: NFKC folds full-width
    characters (ＡＢＣ, （）) common in Chinese ERP exports, case and spacing are folded."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", name)).strip().casefold()


class Tokeniser:
    """``token(kind, name)`` -> e.g. ``c_3f2a...``; kinds keep products and customers apart."""

    PREFIX = {"customer": "c", "supplier": "s", "product": "p", "counterparty": "k"}

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise TokenKeyError(N_("the tokenisation key must be at least 32 bytes"))
        self._key = key

    def __repr__(self) -> str:  # the key must never reach a log line
        return "Tokeniser(<key hidden>)"

    def token(self, kind: str, name: str) -> str:
        norm = normalise_name(name)
        mac = hmac.new(self._key, f"{kind}\x00{norm}".encode(), hashlib.sha256).hexdigest()
        return f"{self.PREFIX.get(kind, 'x')}_{mac[:TOKEN_HEX]}"


def adopt_key(source: str | Path, state_dir: str | Path, file_name: str = KEY_FILE) -> bool:
    """Give ``state_dir`` the token key in ``source`` (the live gateway's), so a replay of the
    same site tokenises names exactly as the live gateway does and the bank sees one product
    under one token. Returns True when it was copied, False when the state already holds the
    same key. A state holding another key is refused: its tokens are already in a chain, and
    changing the key half-way would split every name into two tokens."""
    key = _read_key(Path(source))
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    dst = state / file_name
    try:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if dst.read_bytes() == key:
            return False
        raise TokenKeyError(N_("{dst} already holds another token key (its tokens are in this identity's chain): "
                               "adopt the live key only into a new replay identity"), dst=dst) from None
    _write_new(fd, key)
    return True


def load_or_create_key(state_dir: str | Path, file_name: str = KEY_FILE) -> bytes:
    """Read the site's token key, creating it (mode 0600, O_EXCL) on first use.

    Same pattern as the signing key (gateway/identity.py): a key readable by others is
    refused rather than silently used, because it would let anyone re-identify tokens.
    """
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state / file_name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    key = secrets.token_bytes(32)
    _write_new(fd, key)
    return key


def _read_key(path: Path) -> bytes:
    """A token key file as the site's or the live gateway's: private to its owner, 32 bytes or more."""
    st = path.stat()
    if st.st_mode & 0o077:
        raise TokenKeyError(N_("{path} is readable by others (mode {value}); run chmod 600 on it"),
                            path=path, value=oct(st.st_mode & 0o777))
    key = path.read_bytes()
    if len(key) < 32:
        raise TokenKeyError(N_("{path} is shorter than 32 bytes: not a token key"), path=path)
    return key


def _write_new(fd: int, key: bytes) -> None:
    """Write a key into a file just created with O_EXCL, durably before anything uses it."""
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())


def site_tokeniser(state_dir: str | Path, file_name: str = KEY_FILE) -> Tokeniser:
    return Tokeniser(load_or_create_key(state_dir, file_name))
