"""Verification of an unpacked bundle before anything is installed: the signature by the pinned
release key over the manifest bytes, every wheel's SHA-256 and size (and no wheel the manifest
does not list), the python tag, and the version ordering (no downgrade unless explicitly allowed,
and the running version at least the manifest's ``min_from``)."""

from __future__ import annotations

import json
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from packaging.version import InvalidVersion, Version

from gateway.i18n import N_
from gateway.update.bundle import SIGN_PREFIX, Manifest, python_tag, sha256_file
from gateway.update.errors import UpdateError
from gateway.update.release_key import key_id


def parse_version(text: str, where: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion as exc:
        raise UpdateError(N_("{where}: '{text}' is not a version (expected PEP 440, e.g. 1.2.0)"),
                          where=where, text=text) from exc


def check_signature(manifest_raw: bytes, signature_raw: bytes, pinned: VerifyKey, where: str) -> None:
    try:
        sig = json.loads(signature_raw)
        sig_bytes = bytes.fromhex(sig["sig"])
        alg, kid = sig["alg"], sig["kid"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UpdateError(N_("{where}: manifest.sig is not {{alg, kid, sig: hex}}"), where=where) from exc
    pinned_kid = key_id(bytes(pinned))
    if alg != "ed25519":
        raise UpdateError(N_("{where}: manifest.sig key 'alg': expected 'ed25519', got {alg}"),
                          where=where, alg=f'{alg!r}')
    if kid != pinned_kid:
        raise UpdateError(N_("{where}: signed by release key {kid}, but this gateway pins {pinned_kid}"),
                          where=where, kid=kid, pinned_kid=pinned_kid)
    try:
        pinned.verify(SIGN_PREFIX + manifest_raw, sig_bytes)
    except (BadSignatureError, ValueError) as exc:
        raise UpdateError(N_("{where}: bad signature: the manifest was not signed by the pinned release key "
                             "{pinned_kid} (or was altered after signing)"),
                          where=where, pinned_kid=pinned_kid) from exc


def check_wheels(manifest: Manifest, wheels_dir: Path, where: str) -> None:
    listed = {w["name"]: w for w in manifest.wheels}
    present = {p.name for p in wheels_dir.glob("*.whl")}
    if extra := sorted(present - set(listed)):
        raise UpdateError(N_("{where}: wheels not in the signed manifest: {value}"),
                          where=where, value=', '.join(extra))
    if missing := sorted(set(listed) - present):
        raise UpdateError(N_("{where}: wheels in the manifest but missing from the bundle: {value}"),
                          where=where, value=', '.join(missing))
    for name, w in listed.items():
        path = wheels_dir / name
        size = path.stat().st_size
        if size != w["size"]:
            raise UpdateError(N_("{where}: wheel {name}: {size} bytes, the signed manifest says {w}"),
                              where=where, name=name, size=size, w=w['size'])
        digest = sha256_file(path)
        if digest != w["sha256"]:
            raise UpdateError(N_("{where}: wheel {name}: sha256 {digest}, the signed manifest says {w}"),
                              where=where, name=name, digest=digest, w=w['sha256'])


def check_compatible(manifest: Manifest, current: str | None, *, allow_downgrade: bool, where: str) -> None:
    if manifest.python != python_tag():
        raise UpdateError(N_("{where}: manifest key 'python': bundle built for {python}, this gateway runs {value}"),
                          where=where, python=manifest.python, value=python_tag())
    new = parse_version(manifest.version, f"{where}: manifest key 'version'")
    if current is None:
        return
    cur = parse_version(current, "running version")
    if new == cur:
        raise UpdateError(N_("{where}: version {version} is already running"), where=where, version=manifest.version)
    if new < cur and not allow_downgrade:
        raise UpdateError(N_("{where}: version {version} is older than the running {current}; a downgrade needs "
                             "--allow-downgrade"), where=where, version=manifest.version, current=current)
    min_from = None if manifest.min_from is None else parse_version(manifest.min_from, f"{where}: key 'min_from'")
    if min_from is not None and new > cur and cur < min_from:
        raise UpdateError(N_("{where}: version {version} updates only from {min_from} or later; this gateway runs "
                             "{current}"),
                          where=where, version=manifest.version, min_from=manifest.min_from, current=current)


def verify(manifest_raw: bytes, signature_raw: bytes, wheels_dir: Path, pinned: VerifyKey, current: str | None,
           *, allow_downgrade: bool = False, where: str) -> Manifest:
    """All checks, signature first (nothing of an unsigned manifest is trusted, not even to parse it)."""
    check_signature(manifest_raw, signature_raw, pinned, where)
    manifest = Manifest.parse(manifest_raw, where)
    check_wheels(manifest, wheels_dir, where)
    check_compatible(manifest, current, allow_downgrade=allow_downgrade, where=where)
    return manifest
