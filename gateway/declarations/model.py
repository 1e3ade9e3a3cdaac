"""What a declaration is and what makes one valid (pure functions: the CLI, the replay's
``declarations.csv`` and the tests share them).

A declaration says "from FROM to TO, ASSETS (or the whole site) are expected to be in state
KIND". It may be made in advance or after the fact; the moment it was made (``declared_at``)
travels with it, so the bank can tell a holiday announced a week ahead from "maintenance"
declared the day after an anomaly was visible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from gateway.i18n import N_
from gateway.user_error import Part, UserError, english

KINDS = ("planned_downtime", "maintenance", "stocktake", "holiday")
# Longer than a quarter is not an event but a state of the business (a plant that closed):
# that is for the bank to hear about from the enterprise, not a declaration rules should honour.
MAX_DAYS = 92
MAX_ASSETS = 64
MAX_NOTE = 500
ASSET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
# 2000-01-01 .. 2100-01-01: a time outside is a typo, not a plan.
EARLIEST, LATEST = 946684800.0, 4102444800.0


class DeclarationError(UserError, ValueError):
    """A declaration that cannot be accepted; names the field and what was expected."""

    def __init__(self, key: str, message: str, /, **params: Any) -> None:
        # ``message`` an N_ template, its values as keywords: ``message`` stays English, ``detail`` is what
        # gateway.i18n.render translates (the CLI names the option itself).
        self.key, self.message = key, english(message, params)
        self.detail = Part(message, params)
        UserError.__init__(self, N_("{key}: {message}"), key=key, message=self.detail)


@dataclass(frozen=True)
class Declaration:
    """A valid declaration, times as epoch seconds (UTC)."""

    kind: str
    start: float
    end: float
    assets: tuple[str, ...]  # empty: the whole site
    note: str = ""


def parse_time(text: str, key: str, tz: tzinfo = UTC) -> float:
    """ISO 8601 with an offset (``2026-10-01T00:00:00+08:00``, ``...Z``) or a date
    (``2026-10-01``, read as midnight in ``tz``: the site's time zone, so a holiday declared
    for 1 October starts at the site's midnight). A date-time without an offset is refused:
    the zone would be a guess, and a declaration eight hours off covers the wrong shift."""
    raw = (text or "").strip()
    if not raw:
        raise DeclarationError(key, N_("a time such as 2026-10-01T00:00:00+08:00 (found nothing)"))
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            dt = datetime.fromisoformat(raw).replace(tzinfo=tz)
        else:
            dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise DeclarationError(key, N_("an ISO 8601 time such as 2026-10-01T00:00:00+08:00 (found {raw})"),
                                    raw=f'{raw!r}') from None
    if dt.tzinfo is None:
        raise DeclarationError(key, N_("a time with a UTC offset, e.g. {raw}+08:00 or {raw}Z (found {raw2})"),
                                    raw=raw, raw2=f'{raw!r}')
    ts = dt.timestamp()
    if not EARLIEST <= ts < LATEST:
        raise DeclarationError(key, N_("a time between 2000 and 2100 (found {raw})"), raw=f'{raw!r}')
    return ts


def parse_assets(text: str | None) -> tuple[str, ...]:
    """``press-1,press-2`` -> sorted unique names; empty or None -> () (the whole site)."""
    if text is None or not text.strip():
        return ()
    names = sorted({a.strip() for a in text.split(",") if a.strip()})
    for a in names:
        if not ASSET_RE.match(a):
            raise DeclarationError("assets", N_("asset names matching {pattern} (found {a})"),
                                             pattern=ASSET_RE.pattern, a=f'{a!r}')
    if len(names) > MAX_ASSETS:
        raise DeclarationError("assets", N_("at most {MAX_ASSETS} assets (found {n_names})"),
                                         MAX_ASSETS=MAX_ASSETS, n_names=len(names))
    return tuple(names)


def validate(kind: str, start: float, end: float, assets: tuple[str, ...] = (), note: str = "") -> Declaration:
    """A Declaration, or DeclarationError naming the field at fault."""
    if kind not in KINDS:
        raise DeclarationError("kind", N_("one of {value} (found {kind})"), value=', '.join(KINDS), kind=f'{kind!r}')
    if not end > start:
        raise DeclarationError("to", N_("a time after from ({value}; found {value2})"),
                                     value=_iso(start), value2=_iso(end))
    if end - start > MAX_DAYS * 86400:
        raise DeclarationError("to", N_("at most {MAX_DAYS} days after from (found {value} days); declare a longer "
                                        "closure in parts, or tell the bank directly"),
                                     MAX_DAYS=MAX_DAYS, value=f'{(end - start) / 86400:.1f}')
    if "\x00" in note or len(note) > MAX_NOTE:
        raise DeclarationError("note", N_("text of at most {MAX_NOTE} characters without NUL"), MAX_NOTE=MAX_NOTE)
    return Declaration(kind, float(start), float(end), tuple(assets), note)


def parse(kind: str, start: str, end: str, assets: str | None = None, note: str = "", tz: tzinfo = UTC
          ) -> Declaration:
    """Validate text as typed on the command line or read from declarations.csv (plain dates
    in ``tz``, the site's time zone)."""
    return validate(kind.strip(), parse_time(start, "from", tz), parse_time(end, "to", tz), parse_assets(assets),
                    note)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


iso = _iso
