"""The provisioning file (``edgeproof-provision.toml`` on the boot partition).

Every error names the file, the key and what was expected, like a profile error, because
the installer who wrote it is far away and reads it on the status page or in the journal.
The token's value never appears in an error.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROVISION_FILE = "edgeproof-provision.toml"
KEYS = {"profile": "a shipped profile name or a .toml file on the boot partition",
        "receiver": "the receiver's http:// or https:// URL",
        "token": "the one-time enrollment token (removed once used)",
        "site_id": "the site id: letters, digits, '.', '_' or '-', at most 64",
        "locale": "'en' or 'zh-CN' (optional, default 'en')"}
REQUIRED = ("profile", "receiver", "site_id")
SITE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
LOCALES = {"en": ("C.UTF-8", "en"), "zh-CN": ("zh_CN.UTF-8", "zh_CN")}


class ProvisionFileError(ValueError):
    """A provisioning file that cannot be applied: ``file: key: expected``."""

    def __init__(self, file: str | Path, key: str, expected: str) -> None:
        self.file, self.key, self.expected = str(file), key, expected
        super().__init__(f"{self.file}: {key}: {expected}")


@dataclass(frozen=True)
class Provisioning:
    path: Path
    profile: str
    receiver: str
    site_id: str
    locale: str
    token: str | None

    def __repr__(self) -> str:  # the token never reaches a log line through repr()
        return (f"Provisioning(path={self.path!s}, profile={self.profile!r}, receiver={self.receiver!r}, "
                f"site_id={self.site_id!r}, locale={self.locale!r}, token={'set' if self.token else 'none'})")

    def public(self) -> dict[str, Any]:
        """What may be recorded and shown: everything but the token."""
        return {"file": str(self.path), "profile": self.profile, "receiver": self.receiver,
                "site_id": self.site_id, "locale": self.locale}


def _string(path: Path, data: dict[str, Any], key: str, required: bool) -> str | None:
    if key not in data:
        if required:
            raise ProvisionFileError(path, key, f"missing; expected {KEYS[key]}")
        return None
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        shown = "a non-empty string" if key == "token" else f"{KEYS[key]} (found {value!r})"
        raise ProvisionFileError(path, key, f"expected {shown}")
    return value.strip()


def load_provisioning(path: Path) -> Provisioning:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProvisionFileError(path, "(file)", f"cannot be read: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProvisionFileError(path, "(file)", f"not UTF-8 text (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProvisionFileError(path, "(file)", f"not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ProvisionFileError(path, unknown[0], f"unknown key; expected only {', '.join(KEYS)}")
    profile = _string(path, data, "profile", True)
    receiver = _string(path, data, "receiver", True)
    site_id = _string(path, data, "site_id", True)
    token = _string(path, data, "token", False)
    locale = _string(path, data, "locale", False) or "en"
    assert profile is not None and receiver is not None and site_id is not None
    url = urlsplit(receiver)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ProvisionFileError(path, "receiver", f"expected {KEYS['receiver']} (found {receiver!r})")
    if not SITE_RE.match(site_id):
        raise ProvisionFileError(path, "site_id", f"expected {KEYS['site_id']} (found {site_id!r})")
    if locale not in LOCALES:
        raise ProvisionFileError(path, "locale", f"expected one of {', '.join(LOCALES)} (found {locale!r})")
    return Provisioning(path, profile, receiver.rstrip("/"), site_id, locale, token)


def resolve_profile(prov: Provisioning) -> Path:
    """A file beside the provisioning file (or an absolute path), else a shipped profile's name."""
    from gateway.profile import ProfileError, resolve_profile_path

    name = prov.profile
    if name.endswith(".toml") or "/" in name:
        p = Path(name)
        p = p if p.is_absolute() else prov.path.parent / p
        if not p.is_file():
            raise ProvisionFileError(prov.path, "profile", f"{p} not found; expected {KEYS['profile']}")
        return p
    try:
        return resolve_profile_path(name)
    except ProfileError as exc:
        raise ProvisionFileError(prov.path, "profile", f"unknown profile {name!r}: {exc.expected}") from exc
