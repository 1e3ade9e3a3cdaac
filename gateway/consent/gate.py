"""The consent gate between the indicator store and the signed outbox.

It is the batcher's RecordPolicy (hold what is not authorised now, generalise what may
leave), and it decides what a packing step announces first: a change of the authorisation
(a grant expired, a revocation on site, a narrower grant) becomes a signed ``consent``
record, packed before any indicator of that step, so the bank sees why data stopped rather
than a silent gap. Every batch and every change goes to the audit log.

The gate never packs: the packing step (gateway/uplink/packing.py) asks it at the start of a
step (:meth:`ConsentGate.begin_step`), has the batcher sign what it announces, tells it the
seq (:meth:`ConsentGate.announced`) and ends the step (:meth:`ConsentGate.end_step`); the
batcher asks it which records may leave (:meth:`ConsentGate.policy`). Calls go from the uplink
to the gate only (an import-linter contract in setup.cfg keeps gateway.consent from importing
gateway.uplink).

Batches already signed before a revocation were authorised when they were signed; they
stay in the outbox and are delivered (withdrawing them would break the chain the bank
verifies). The consent record that follows names the moment the flow stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.clock import EARLIEST_PLAUSIBLE
from gateway.consent import audit
from gateway.consent.policy import (
    ActiveGrant,
    Authorisation,
    ConsentCfg,
    LocalChange,
    evaluate,
    load_consent,
    local_changes,
    to_epoch,
)
from gateway.privacy.policy import Generaliser, PrivacyCfg, load_privacy
from gateway.store import consent as consent_db
from gateway.store import outbox as outbox_db

log = logging.getLogger("edgeproof.consent")
STATE_KEY = "consent.state"


@dataclass
class ConsentStep:
    """What the gate decided when a packing step began."""

    now: float
    changes: list[LocalChange] = field(default_factory=list)
    # The consent record to sign before anything else of this step (None: nothing changed), and
    # the state it announces (saved once it is signed).
    announcement: dict[str, Any] | None = None
    state: dict[str, Any] | None = None


class ConsentGate:
    def __init__(self, store: Any, consent: tuple[ConsentCfg, list[ActiveGrant]] | None, privacy: PrivacyCfg,
                 dest: Callable[[], str] | str = "*", subject: str = "enterprise",
                 clock: Callable[[], float] = time.time) -> None:
        """``consent`` None means the profile has no ``[consent]`` section: everything may
        leave and no consent records are sent (development profiles); a warning says so."""
        self.store = store
        self.cfg, self.grants = consent if consent is not None else (None, [])
        self.generaliser = Generaliser(privacy)
        self._dest = dest if callable(dest) else (lambda d=dest: d)
        self.subject = (self.cfg.enterprise if self.cfg and self.cfg.enterprise else subject)
        self.clock = clock
        self.auth: Authorisation | None = None
        self._step_changes = 0  # the newest local consent change the current packing step has read
        if self.cfg is None:
            log.warning("no [consent] section in the profile: every indicator category may leave")

    @property
    def active(self) -> bool:
        return self.cfg is not None

    def authorisation(self, now: float | None = None, changes: list[LocalChange] | None = None
                      ) -> Authorisation | None:
        if self.cfg is None:
            return None
        now = self.clock() if now is None else now
        return evaluate(self.grants, local_changes(self.store) if changes is None else changes, now, self._dest())

    # -- RecordPolicy -------------------------------------------------------------------
    def policy(self, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[int, str]]:
        auth = self.auth
        if auth is None:
            auth = self.authorisation()
        elif self._changed_during_step():
            # A revocation made on site while this step packs applies to the very next page: an
            # indicator computed after it never leaves under the authorisation read before it.
            auth = self.auth = self.authorisation()
        send: list[dict[str, Any]] = []
        held: dict[int, str] = {}
        for rec in records:
            cat = rec.get("category", "")
            if auth is not None and not auth.permits(cat):
                held[rec["_id"]] = f"consent: category {cat!r} not authorised for this receiver"
                continue
            send.append(self.generaliser.apply(rec))
        return send, held

    def _changed_during_step(self) -> bool:
        """Whether a consent change was recorded on site since this packing step read them."""
        if self.cfg is None:
            return False
        return consent_db.newest_change_id(self.store) > self._step_changes

    # -- the consent record -------------------------------------------------------------
    def consent_record(self, before: dict[str, Any] | None, after: dict[str, Any], reasons: list[str],
                       now: float) -> dict[str, Any]:
        b_allowed = set(before["allowed"]) if before else set()
        a_allowed = set(after["allowed"])
        b_denied, a_denied = set((before or {}).get("denied", [])), set(after["denied"])
        stopped = (b_allowed - a_allowed) | (a_denied - b_denied)
        resumed = ((a_allowed - b_allowed) | (b_denied - a_denied)) - a_denied
        return {
            "type": "consent", "name": "consent.change", "category": "consent", "subject": self.subject,
            "window": {"start": int(now), "len": 0}, "event": _event(before, after, reasons),
            "receiver": self._dest(), "allowed": after["allowed"], "denied": after["denied"],
            "until": after["until"], "to": after["to"], "recipients": after.get("recipients", []),
            "purpose": self.cfg.purpose if self.cfg else "",
            "agreement_sha256": self.cfg.agreement_sha256 if self.cfg else None,
            "stopped": sorted(stopped), "resumed": sorted(resumed), "reasons": reasons,
            "policy": hashlib.sha256(json.dumps(after, sort_keys=True).encode()).hexdigest()[:16],
        }

    # -- the packing step (run by gateway/uplink/packing.py) ----------------------------------
    def begin_step(self, now: float | None = None) -> ConsentStep | None:
        """Read the consent in force at ``now`` for the step about to pack; what the step must
        announce first, if anything changed. None: nothing may be packed in this step."""
        now = self.clock() if now is None else now
        if self.cfg is not None and now < EARLIEST_PLAUSIBLE:
            # A Pi without RTC boots in 1970 until NTP answers: every grant would look not
            # yet valid and everything would be held. Wait for a plausible clock instead.
            log.warning("clock not set: consent cannot be evaluated, packing deferred", extra={"now": now})
            return None
        changes = local_changes(self.store) if self.cfg is not None else []
        self._step_changes = max((c.id for c in changes), default=0)
        step = ConsentStep(now, changes)
        self.auth = self.authorisation(now, changes)
        try:
            if self.auth is not None:
                state = self.auth.state()
                prev_text = self.store.meta_get(STATE_KEY)
                before = json.loads(prev_text) if prev_text else None
                if before != state:
                    step.announcement = self.consent_record(before, state, self._reasons(before, changes, now), now)
                    step.state = state
        except BaseException:
            self.end_step()
            raise
        return step

    def announced(self, step: ConsentStep, seq: int | None) -> None:
        """The step's announcement is signed as batch ``seq``: its state is the one in force from
        now on, and the change goes to the audit log with that batch's hash."""
        rec, state = step.announcement, step.state
        if rec is None or state is None:
            return
        self.store.meta_set(STATE_KEY, json.dumps(state, sort_keys=True))
        audit.append(self.store, "consent", at=step.now, seq=seq, categories=state["allowed"],
                     batch_hash=outbox_db.batch_hash(self.store, seq),
                     detail={k: rec[k] for k in ("event", "allowed", "denied", "stopped", "resumed",
                                                 "until", "reasons", "receiver")})
        # A flow that stops is worth a warning; the first grant or a wider one is not.
        log.log(logging.WARNING if rec["stopped"] else logging.INFO, "consent changed",
                extra={"event": rec["event"], "stopped": rec["stopped"], "resumed": rec["resumed"]})

    def changes_seen(self, step: ConsentStep) -> None:
        """The local changes the step evaluated are accounted for (with or without an effect)."""
        if self.auth is None:
            return
        last_id = max((c.id for c in step.changes), default=0)
        if last_id:
            self.store.meta_set("consent.seen_change", str(last_id))

    def end_step(self) -> None:
        """Log every batch the step signed (and any a crash left unlogged); forget the step's
        authorisation, so the policy reads the consent in force again outside a step."""
        try:
            audit.record_batches(self.store)
        finally:
            self.auth = None

    def _reasons(self, before: dict[str, Any] | None, changes: list[LocalChange], now: float) -> list[str]:
        if before is None:
            return ["initial"]
        reasons = []
        until = to_epoch(before.get("until"), "(state)", "until")
        if until is not None and until <= now:  # the earliest expiry announced last time has passed
            reasons.append("expired")
        seen = int(self.store.meta_get("consent.seen_change", "0") or 0)
        for ch in changes:
            if ch.id > seen and (ch.action == "revoke" or ch.at <= now):
                reasons.append("revoked_on_site" if ch.action == "revoke" else "granted_on_site")
        if not reasons:
            reasons.append("policy_changed")
        return reasons


def _event(before: dict[str, Any] | None, after: dict[str, Any], reasons: list[str]) -> str:
    if before is None:
        return "initial"
    if "revoked_on_site" in reasons:
        return "revoked"
    if "expired" in reasons:
        return "expired"
    b, a = set(before["allowed"]) - set(before["denied"]), set(after["allowed"]) - set(after["denied"])
    if a < b or (set(after["denied"]) > set(before["denied"])):
        return "narrowed"
    if a > b:
        return "granted"
    return "changed"


def check_sections(profile: Any, file: str = "(profile)") -> None:
    """Validate every section these subsystems own ([consent], [privacy], [[connectors]],
    [products], [shifts], [collateral]) when the gateway starts, so a typo stops the start with file, key
    and expectation instead of surfacing later as a failing indicator in the log."""
    from gateway.connectors.config import load_connectors
    from gateway.connectors.products import load_products
    from gateway.indicators.collateral import load_collateral
    from gateway.indicators.shifts import load_shifts

    load_privacy(profile.privacy, file)
    load_connectors(profile.connectors, file)
    load_products(profile.products, file)
    if profile.shifts:
        load_shifts(profile.shifts, profile.site.timezone, file)
    if profile.collateral:
        load_collateral(profile.collateral, file)


def build_gate(profile: Any, state_dir: str | Path, store: Any, dest: Callable[[], str] | str = "*",
               file: str = "(profile)") -> ConsentGate:
    """The gate a gateway runs with; every section of ours is validated here (check_sections)."""
    check_sections(profile, file)
    consent = load_consent(profile.consent, state_dir, file) if profile.consent else None
    privacy = load_privacy(profile.privacy, file)
    return ConsentGate(store, consent, privacy, dest, subject=profile.site.id)
