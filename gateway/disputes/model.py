"""What a dispute or a confirmation is and what makes one valid (pure functions shared by the CLI,
the status page and the tests).

A **dispute** names one finding of the receiver by its chain hash (the ``hash`` the findings feed
serves, stable and verifiable, unlike a row id) and either *contests* it (the finding is wrong) or
*explains* it (it is right, and here is why: maintenance, stocktake, holiday, other). A
**confirmation** records that the enterprise confirmed the measures in force (consent, categories,
recipients, purposes) as its gateway holds them. The note travels to the bank: it is the enterprise's
argument, addressed to the bank (unlike a declaration's note, which stays on site).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gateway.i18n import N_
from gateway.user_error import Part, UserError, english

ACTIONS = ("contest", "explain")
REASONS = ("maintenance", "stocktake", "holiday", "other")
MAX_NOTE = 500
HASH_RE = re.compile(r"^[0-9a-f]{64}$")


class DisputeError(UserError, ValueError):
    """A dispute that cannot be accepted; names the field and what was expected."""

    def __init__(self, key: str, message: str, /, **params: Any) -> None:
        # ``message`` an N_ template, its values as keywords: ``message`` stays English, ``detail`` is what
        # gateway.i18n.render translates (the CLI names the option itself).
        self.key, self.message = key, english(message, params)
        self.detail = Part(message, params)
        UserError.__init__(self, N_("{key}: {message}"), key=key, message=self.detail)


@dataclass(frozen=True)
class Dispute:
    action: str  # contest | explain
    finding: str  # the finding's chain hash (64 hex)
    reason: str | None  # explain only
    note: str
    finding_id: int | None = None  # the receiver's id of the finding, for people; the hash is what binds


def check_note(note: str, required: bool = False) -> str:
    note = (note or "").strip()
    if "\x00" in note or len(note) > MAX_NOTE:
        raise DisputeError("note", N_("text of at most {MAX_NOTE} characters without NUL (found {n_note})"),
                                   MAX_NOTE=MAX_NOTE, n_note=len(note))
    if required and not note:
        raise DisputeError("note", N_("a few words for the bank saying why (found nothing)"))
    return note


def validate(action: str, finding: str, reason: str | None = None, note: str = "",
             finding_id: int | None = None) -> Dispute:
    """A Dispute, or DisputeError naming the field at fault."""
    if action not in ACTIONS:
        raise DisputeError("action", N_("one of {value} (found {action})"),
                                     value=', '.join(ACTIONS), action=f'{action!r}')
    finding = (finding or "").strip().lower()
    if not HASH_RE.match(finding):
        raise DisputeError("finding", N_("the finding's hash: 64 hex characters, as the status page and the bank's "
                                         "findings feed show it (found {finding})"), finding=f'{finding[:80]!r}')
    if action == "explain":
        if reason not in REASONS:
            raise DisputeError("reason", N_("one of {value} (found {reason})"),
                                         value=', '.join(REASONS), reason=f'{reason!r}')
    elif reason is not None:
        raise DisputeError("reason", N_("no reason: a contest says why in its note (reasons are for explain)"))
    if finding_id is not None and (isinstance(finding_id, bool) or not 1 <= finding_id < 2**63):
        raise DisputeError("finding_id", N_("a positive integer (found {finding_id})"), finding_id=f'{finding_id!r}')
    return Dispute(action, finding, reason, check_note(note, required=action == "contest"), finding_id)
