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

from gateway.i18n import N_
from gateway.user_error import KeyedError, Part

PROVISION_FILE = "edgeproof-provision.toml"
KEYS = {"profile": N_("a shipped profile name or a .toml file on the boot partition"),
        "receiver": N_("the receiver's http:// or https:// URL"),
        "token": N_("the one-time enrollment token (removed once used)"),
        "site_id": N_("the site id: letters, digits, '.', '_' or '-', at most 64"),
        "locale": N_("'en' or 'zh-CN' (optional, default 'en')")}
REQUIRED = ("profile", "receiver", "site_id")
SITE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
LOCALES = {"en": ("C.UTF-8", "en"), "zh-CN": ("zh_CN.UTF-8", "zh_CN")}


class ProvisionFileError(KeyedError, ValueError):
    """A provisioning file that cannot be applied: ``file: key: expected`` (gateway.user_error)."""


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
            raise ProvisionFileError(path, key, N_("missing; expected {what}"), what=Part(KEYS[key], {}))
        return None
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        shown = "a non-empty string" if key == "token" else f"{KEYS[key]} (found {value!r})"
        raise ProvisionFileError(path, key, N_("expected {shown}"), shown=shown)
    return value.strip()


def load_provisioning(path: Path) -> Provisioning:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProvisionFileError(path, "(file)", N_("cannot be read: {value}"), value=exc.strerror or exc) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProvisionFileError(path, "(file)", N_("not UTF-8 text (byte {start})"), start=exc.start) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProvisionFileError(path, "(file)", N_("not valid TOML: {error}"), error=exc) from exc
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ProvisionFileError(path, unknown[0], N_("unknown key; expected only {value}"), value=', '.join(KEYS))
    profile = _string(path, data, "profile", True)
    receiver = _string(path, data, "receiver", True)
    site_id = _string(path, data, "site_id", True)
    token = _string(path, data, "token", False)
    locale = _string(path, data, "locale", False) or "en"
    assert profile is not None and receiver is not None and site_id is not None
    url = urlsplit(receiver)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ProvisionFileError(path, "receiver", N_("expected {what} (found {receiver})"),
                                                   what=Part(KEYS["receiver"], {}), receiver=f'{receiver!r}')
    if not SITE_RE.match(site_id):
        raise ProvisionFileError(path, "site_id", N_("expected {what} (found {site_id})"),
                                                  what=Part(KEYS["site_id"], {}), site_id=f'{site_id!r}')
    if locale not in LOCALES:
        raise ProvisionFileError(path, "locale", N_("expected one of {value} (found {locale})"),
                                                 value=', '.join(LOCALES), locale=f'{locale!r}')
    return Provisioning(path, profile, receiver.rstrip("/"), site_id, locale, token)


def resolve_profile(prov: Provisioning) -> Path:
    """A file beside the provisioning file (or an absolute path), else a shipped profile's name."""
    from gateway.profile import ProfileError, resolve_profile_path

    name = prov.profile
    if name.endswith(".toml") or "/" in name:
        p = Path(name)
        p = p if p.is_absolute() else prov.path.parent / p
        if not p.is_file():
            raise ProvisionFileError(prov.path, "profile", N_("{p} not found; expected {what}"),
                                                           p=p, what=Part(KEYS["profile"], {}))
        return p
    try:
        return resolve_profile_path(name)
    except ProfileError as exc:
        raise ProvisionFileError(prov.path, "profile", N_("unknown profile {name}: {expected}"),
                                                       name=f'{name!r}', expected=exc.params["expected"]) from exc
