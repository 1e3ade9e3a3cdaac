"""Status words as the receiver's CLI shows them: short codes whose meaning depends on what they are about.

The codes stay codes in every ``--json`` output and HTTP body (``open``, ``rejected``, ``late``, ``met``);
only the tables and lines people read say them in words. One English word can need two Chinese ones: a
dispute whose status is ``rejected`` is 已驳回, the bank's decision ``rejected`` beside it reads 驳回; a gateway
that is ``late`` is 延迟, not 逾期 (a repayment). So each word is looked up with ``pgettext(context, code)``
(Babel extracts the context: scripts/i18n.py ``pgettext:1c,2``), one context per kind of thing, and an
unknown code is shown as it is (docs/i18n.md).
"""

from __future__ import annotations

from cloud_stub.i18n import pgettext


def dispute_status(code: str) -> str:
    """A dispute's (or confirmation's) status (cloud_stub/disputes.py)."""
    words = {"open": pgettext("dispute status", "open"), "accepted": pgettext("dispute status", "accepted"),
             "rejected": pgettext("dispute status", "rejected"), "mixed": pgettext("dispute status", "mixed"),
             "recorded": pgettext("dispute status", "recorded")}
    return words.get(code, code)


def dispute_decision(code: str) -> str:
    """One bank's decision on a dispute."""
    words = {"accepted": pgettext("dispute decision", "accepted"),
             "rejected": pgettext("dispute decision", "rejected")}
    return words.get(code, code)


def gateway_state(code: str) -> str:
    """A gateway's state in the fleet list (cloud_stub/fleet.py)."""
    words = {"online": pgettext("gateway state", "online"), "late": pgettext("gateway state", "late"),
             "silent": pgettext("gateway state", "silent"), "revoked": pgettext("gateway state", "revoked")}
    return words.get(code, code)


def coverage_level(code: str) -> str:
    """A facility's collateral coverage level (cloud_stub/collateral_value.py): ``ok`` is 充足, not 正常."""
    words = {"ok": pgettext("coverage level", "ok"), "yellow": pgettext("coverage level", "yellow"),
             "orange": pgettext("coverage level", "orange"), "red": pgettext("coverage level", "red"),
             "not_observed": pgettext("coverage level", "not observed")}
    return words.get(code, code)


def warning_level(code: str) -> str:
    """An authenticity score's warning level (docs/scoring.md)."""
    words = {"green": pgettext("warning level", "green"), "yellow": pgettext("warning level", "yellow"),
             "orange": pgettext("warning level", "orange"), "red": pgettext("warning level", "red")}
    return words.get(code, code)


def covenant_status(code: str) -> str:
    """A covenant's status against its limit (cloud_stub/coverage_run.py)."""
    words = {"met": pgettext("covenant status", "met"), "breached": pgettext("covenant status", "breached"),
             "not_observed": pgettext("covenant status", "not observed"),
             "undetermined": pgettext("covenant status", "undetermined")}
    return words.get(code, code)
