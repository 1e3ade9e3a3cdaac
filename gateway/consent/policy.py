"""The enterprise's authorisation: grants declared in the profile (or a separate consent
file) plus revocations and grants made on site with `edgeproof consent ...`.

Consent is evaluated at send time: what is not authorised *now*, for *this* receiver, is
held on site. The evaluation is a pure function of (grants, local changes, time,
receiver) so a test can replay it; the gate (gate.py) turns a change of its result into
a signed consent record.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from gateway.i18n import N_
from gateway.profile.load import ProfileError, _split_msgspec_error, msgspec_words
from gateway.store import consent as consent_db
from gateway.store import indicators as indicators_db

if TYPE_CHECKING:
    from gateway.store import Store

ALL = "*"
KNOWN_CATEGORIES = ("energy", "machine", "env", "water", "gas", "collateral", "vision", "data_quality", "mes", "erp")


def check_categories(categories: list[str] | frozenset[str], file: str, key: str) -> None:
    """Every category named in a grant or an on-site change must be one the gateway makes
    (or "*"): a misspelt ``enrgy`` would otherwise hold or release nothing while saying it did."""
    unknown = sorted(c for c in categories if c != ALL and c not in KNOWN_CATEGORIES)
    if unknown:
        raise ProfileError(file, key, N_("categories from {KNOWN_CATEGORIES} or \"*\" (found unknown {value})"),
                                      KNOWN_CATEGORIES=list(KNOWN_CATEGORIES),
                                      value=", ".join(repr(c) for c in unknown))


class Grant(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    categories: list[str]
    # fnmatch pattern on the uplink destination name ("http:https://recv.example.com", "mqtt:host:port").
    receiver: str = ALL
    # Who the data is for (a bank's name), recorded in consent records for the bank to see.
    to: str = ""
    # Times: TOML datetimes, dates, or ISO 8601 strings; naive ones are UTC.
    valid_from: Any = None
    until: Any = None
    # What the data may be used for, and the signed authorisation agreement (a file; its SHA-256
    # goes into consent records). Empty: the [consent] section's.
    purpose: str = ""
    agreement: str | None = None


class ConsentCfg(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    enterprise: str = ""
    grants: list[Grant] = []
    # Defaults for every grant: the purpose and the signed authorisation agreement (a PDF or scan
    # the enterprise signed; relative paths are relative to the state directory).
    purpose: str = ""
    agreement: str | None = None
    # A separate consent file (TOML with [[grants]]), so the enterprise can own it apart from
    # the installer's profile. Relative paths are relative to the state directory.
    file: str | None = None
    # Filled by load_consent (whatever a profile says): the SHA-256 of ``agreement``.
    agreement_sha256: str | None = None


def to_epoch(value: Any, file: str, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return to_epoch(dt, file, key)
    raise ProfileError(file, key, N_("a date or date-time such as 2027-06-30T00:00:00Z (found {value})"),
                                  value=f'{value!r}')


@dataclass(frozen=True)
class ActiveGrant:
    categories: frozenset[str]
    receiver: str
    to: str
    valid_from: float | None
    until: float | None
    origin: str  # "profile" | "local:<id>"
    purpose: str = ""
    agreement_sha256: str | None = None

    def active(self, now: float, dest: str) -> bool:
        if self.valid_from is not None and now < self.valid_from:
            return False
        if self.until is not None and now >= self.until:
            return False
        return fnmatch.fnmatchcase(dest, self.receiver)


@dataclass(frozen=True)
class Authorisation:
    """The result of evaluating consent at one moment for one receiver."""

    allowed: frozenset[str]  # may contain "*"
    denied: frozenset[str]  # revoked on site; wins over allowed
    until: float | None  # the earliest expiry among the active grants (when the set next shrinks)
    to: tuple[str, ...]
    # Per active grant: {"to", "categories", "purpose", "agreement_sha256", "until"} (see recipients()).
    recipients: tuple[tuple[tuple[str, Any], ...], ...] = ()

    def permits(self, category: str) -> bool:
        if category in self.denied or ALL in self.denied:
            return False
        return ALL in self.allowed or category in self.allowed

    def state(self) -> dict[str, Any]:
        """A canonical description; a change of it is a consent change."""
        return {"allowed": sorted(self.allowed), "denied": sorted(self.denied), "to": list(self.to),
                "until": _iso(self.until), "recipients": [dict(r) for r in self.recipients]}


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def agreement_sha256(name: str | None, state_dir: str | Path | None, file: str, key: str) -> str | None:
    """The SHA-256 of the signed authorisation agreement named at ``key``; None when none is named.

    A named file that cannot be read stops the start: a consent record must not claim an
    agreement nobody can produce."""
    if not name:
        return None
    path = Path(name)
    if not path.is_absolute() and state_dir is not None:
        path = Path(state_dir) / path
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ProfileError(file, key, N_("a readable signed agreement file ({path}: {strerror})"),
                                      path=path, strerror=exc.strerror) from exc


def _grants_from(cfg: list[Grant], file: str, origin: str, key: str, section: ConsentCfg | None = None,
                 state_dir: str | Path | None = None) -> list[ActiveGrant]:
    out = []
    for i, g in enumerate(cfg):
        if not g.categories:
            raise ProfileError(file, f"{key}[{i}].categories", N_("at least one category (or \"*\")"))
        check_categories(g.categories, file, f"{key}[{i}].categories")
        if g.agreement:
            digest = agreement_sha256(g.agreement, state_dir, file, f"{key}[{i}].agreement")
        else:
            digest = agreement_sha256(section.agreement if section else None, state_dir, file, "consent.agreement")
        out.append(ActiveGrant(frozenset(g.categories), g.receiver, g.to,
                               to_epoch(g.valid_from, file, f"{key}[{i}].valid_from"),
                               to_epoch(g.until, file, f"{key}[{i}].until"), origin,
                               g.purpose or (section.purpose if section else ""), digest))
    return out


def load_consent(section: dict[str, Any], state_dir: str | Path | None = None,
                 file: str = "(profile)") -> tuple[ConsentCfg, list[ActiveGrant]]:
    """Validate ``[consent]`` (and its separate file, if named); raises ProfileError."""
    try:
        cfg = msgspec.convert(section, ConsentCfg, strict=False)
    except msgspec.ValidationError as exc:
        k, msg = _split_msgspec_error(exc)
        raise ProfileError(file, f"consent.{k}", msgspec_words(msg)) from exc
    cfg.agreement_sha256 = agreement_sha256(cfg.agreement, state_dir, file, "consent.agreement")
    grants = _grants_from(cfg.grants, file, "profile", "consent.grants", cfg, state_dir)
    if cfg.file:
        path = Path(cfg.file)
        if not path.is_absolute() and state_dir is not None:
            path = Path(state_dir) / path
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ProfileError(path, "(file)", N_("a readable consent file ({strerror})"),
                                               strerror=exc.strerror) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(path, "(syntax)", N_("valid TOML ({error})"), error=exc) from exc
        try:
            extra = msgspec.convert(data.get("grants", []), list[Grant], strict=False)
        except msgspec.ValidationError as exc:
            k, msg = _split_msgspec_error(exc)
            raise ProfileError(path, f"grants{k}", msgspec_words(msg)) from exc
        grants += _grants_from(extra, str(path), "file", "grants", cfg, state_dir)
    return cfg, grants


@dataclass(frozen=True)
class LocalChange:
    """A change made on site (`edgeproof consent revoke|grant`), kept in the store."""

    id: int
    at: float
    action: str  # revoke | grant
    categories: frozenset[str]
    receiver: str
    until: float | None
    note: str


def evaluate(grants: list[ActiveGrant], changes: list[LocalChange], now: float, dest: str) -> Authorisation:
    """Apply local changes in the order they were made over the declared grants, then keep
    what is active now.

    A revoke denies its categories for every grant made before it; a later local grant
    lifts the denial for its categories. A revoke applies even if it is dated after ``now``
    (the clock was set back after it was made): a wrong clock must never reopen a flow the
    enterprise stopped. A grant dated in the future waits until its time.
    """
    denied: set[str] = set()
    active = list(grants)
    for ch in sorted(changes, key=lambda c: c.id):
        if ch.action == "grant" and ch.at > now:
            continue
        if ch.action == "revoke":
            if ALL in ch.categories:  # everything stops: every grant made so far is withdrawn
                active, denied = [], set()
            else:
                denied |= ch.categories
                active = [g if not (g.categories & ch.categories) or ALL in g.categories else
                          ActiveGrant(g.categories - ch.categories, g.receiver, g.to, g.valid_from, g.until,
                                      g.origin, g.purpose, g.agreement_sha256) for g in active]
        elif ch.action == "grant":
            denied = set() if ALL in ch.categories else denied - ch.categories
            active.append(ActiveGrant(ch.categories, ch.receiver, "", ch.at, ch.until, f"local:{ch.id}"))
    now_active = [g for g in active if g.active(now, dest) and g.categories]
    allowed: set[str] = set()
    for g in now_active:
        allowed |= g.categories
    expiries = [g.until for g in now_active if g.until is not None]
    return Authorisation(frozenset(allowed), frozenset(denied),
                         min(expiries) if expiries else None, tuple(sorted({g.to for g in now_active if g.to})),
                         recipients(now_active, frozenset(denied), grants))


def recipients(now_active: list[ActiveGrant], denied: frozenset[str], declared: list[ActiveGrant]
               ) -> tuple[tuple[tuple[str, Any], ...], ...]:
    """Who may receive what, one entry per active grant: the receiver serves a bank only the
    categories an entry naming it (or ``"*"``, any bank) gives, intersected with its operator grant.

    Categories are the grant's minus those revoked on site; ``"*"`` minus a revocation is spelt
    out as the known categories minus it (a receiver cannot subtract from "everything"). A grant
    made on site (``consent grant``) names no bank: it goes to the banks the declared grants name
    (every bank, ``"*"``, only when none names one)."""
    named = sorted({g.to for g in declared if g.to}) or [ALL]
    out: list[tuple[tuple[str, Any], ...]] = []
    for g in now_active:
        cats = set(g.categories)
        if ALL in denied:
            cats = set()
        elif ALL in cats and denied:
            cats = set(KNOWN_CATEGORIES) - denied
        else:
            cats -= denied
        for to in ([g.to or ALL] if not g.origin.startswith("local:") else named):
            out.append((("to", to), ("categories", sorted(cats)), ("purpose", g.purpose),
                        ("agreement_sha256", g.agreement_sha256), ("until", _iso(g.until))))
    return tuple(sorted(out, key=lambda e: json.dumps(e)))


# -- local changes in the store ------------------------------------------------------------
def local_changes(store: Store) -> list[LocalChange]:
    return [LocalChange(r[0], r[1], r[2], frozenset(json.loads(r[3])), r[4], r[5], r[6] or "")
            for r in consent_db.local_changes(store)]


def add_local_change(store: Store, action: str, categories: list[str], receiver: str = ALL,
                     until: float | None = None, note: str = "", at: float | None = None) -> int:
    """Record a revoke or grant made on site. The running gateway sees it at its next
    packing step (every few seconds) and stops or resumes the flow from then on."""
    if action not in ("revoke", "grant"):
        raise ValueError(f"action must be revoke or grant, not {action!r}")
    if not categories:
        raise ValueError("name at least one category (or '*')")
    at = time.time() if at is None else at
    from gateway.consent import audit

    with store.tx("IMMEDIATE"):  # the change and its audit entry, together or not at all
        cid = consent_db.add_change_in_tx(store, at, action, categories, receiver, until, note)
        audit.append_in_tx(store, "consent_local", at=at, detail={
            "change": cid, "action": action, "categories": sorted(categories), "receiver": receiver,
            "until": _iso(until), "note": note})
    return cid


def release_held(store: Store, categories: list[str], note: str = "") -> int:
    """Put indicators held for consent back in line (the gate re-evaluates them at its next
    step, so only what is authorised then leaves). Held indicators are never released by a
    later grant on its own: the enterprise refused them at the time, releasing is its act.
    Returns how many were released; the release is logged in the audit log."""
    if not categories:
        raise ValueError("name at least one category (or '*')")
    from gateway.consent import audit

    with store.tx("IMMEDIATE"):
        n = indicators_db.release_consent_holds_in_tx(store, None if ALL in categories else list(categories))
        audit.append_in_tx(store, "consent_local", detail={"action": "release", "categories": sorted(categories),
                                                           "released": n, "note": note})
    return n
