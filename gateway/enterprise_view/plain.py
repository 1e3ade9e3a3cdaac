"""The enterprise view in plain language, for people on site (`edgeproof view`; the status page
renders the same fields in page.js): the score and what it means, the reasons, each finding with
its numbers, each dispute with each bank's decision."""

from __future__ import annotations

from typing import Any

from gateway.i18n import N_, _

# English here (the status page's JSON carries it); translated where printed with _().
LEVELS = {"green": N_("no warning"), "yellow": N_("watch: something to look at"),
          "orange": N_("warning: the bank will ask"), "red": N_("serious warning: the bank acts on it")}
_LABELS = {"compared": N_("compared"), "threshold": N_("threshold"), "statistic": N_("statistic"),
           "baseline": N_("baseline")}


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def numbers(detail: Any) -> str:
    """A finding's numbers: what was compared, against which threshold, with which statistic."""
    if not isinstance(detail, dict):
        return ""
    parts = []
    for key, label in _LABELS.items():
        val = detail.get(key)
        if isinstance(val, dict) and val:
            values = ", ".join(f"{k} {_num(v)}" for k, v in sorted(val.items()) if not isinstance(v, dict | list))
            parts.append(_("{label}: {values}").format(label=_(label), values=values))
    if not parts:  # chain findings (gaps, equivocation) carry their numbers at the top level
        parts.append(", ".join(f"{k} {_num(v)}" for k, v in sorted(detail.items())
                               if isinstance(v, int | float | str) and not isinstance(v, bool))[:300])
    return "; ".join(p for p in parts if p)


def finding_line(f: dict[str, Any]) -> str:
    detail = f.get("detail") if isinstance(f.get("detail"), dict) else {}
    what = detail.get("message") or detail.get("rule") or f.get("kind")
    nums = numbers(detail)
    return (f"#{f.get('id')} {f.get('severity')} {f.get('kind')}: {what}" + (f" ({nums})" if nums else "")
            + "  " + _("[hash {hash}]").format(hash=str(f.get("hash"))[:16]))


def lines(doc: dict[str, Any] | None, complaint_contact: str = "") -> list[str]:
    if not doc:
        return [_("No view fetched yet: run `edgeproof view --fetch` (the running gateway fetches it periodically).")]
    view = doc["view"]
    out = [_("What the bank sees about {enterprise} (fetched {fetched}, verified under the receiver's key)").format(
        enterprise=view.get("enterprise_id"), fetched=doc.get("fetched_at"))]
    score = view.get("score") or {}
    if score:
        level = view.get("warning_level")
        meaning = _(LEVELS[str(level)]) if str(level) in LEVELS else _("unknown")
        out.append(_("Score {score} points, grade {grade}, warning level {level} ({meaning}), computed {created}")
                   .format(score=score.get("score"), grade=score.get("grade"), level=level, meaning=meaning,
                           created=score.get("created")))
    else:
        out.append(_("No score computed yet."))
    for r in view.get("reasons") or []:
        out.append(_("  reason {code}: {text} ({points} points lost)").format(
            code=r.get("code"), text=r.get("text"), points=_num(r.get("points_lost", 0))))
    findings = view.get("findings") or []
    out.append(_("Findings ({n}):").format(n=len(findings)) if findings else _("No findings."))
    out += ["  " + finding_line(f) for f in findings]
    ds = [d for d in view.get("disputes") or [] if d.get("type") == "dispute"]
    if ds:
        out.append(_("Disputes:"))
    for d in ds:
        rec = d.get("record") or {}
        banks = "; ".join(f"{x.get('bank')} {_(str(x.get('decision')))}"
                          + (f": {x.get('reason')}" if x.get("reason") else "")
                          for x in d.get("decisions") or []) or _("no bank has decided yet")
        out.append(_("  {key} {name} finding #{finding}: {status} ({banks})").format(
            key=d.get("key"), name=rec.get("name"), finding=(d.get("finding") or {}).get("id", "?"),
            status=_(str(d.get("status"))), banks=banks))
    confirmations = [d for d in view.get("disputes") or [] if d.get("type") == "confirmation"]
    if confirmations:
        last = confirmations[-1].get("record") or {}
        out.append(_("Measures in force last confirmed {when} ({n} confirmation(s)).").format(
            when=last.get("made_at"), n=len(confirmations)))
    who = (_("(access log not yet available from this receiver)") if view.get("access_log") is None
           else _("{n} entries").format(n=len(view["access_log"])))
    out.append(_("Who looked at your data: {who}").format(who=who))
    for a in (view.get("access_log") or [])[:10]:  # newest first (docs/wire-format.md §14)
        out.append("  " + _("{time}: {who} {actor} read {path}").format(
            time=a.get("time"), who=_(str(a.get("actor_kind"))), actor=a.get("actor_id"),
            path=a.get("path") or a.get("method") or "?"))
    if complaint_contact:
        out.append(_("Questions or complaints: {contact}").format(contact=complaint_contact))
    return out
