"""The enterprise view in plain language, for people on site (`edgeproof view`; the status page
renders the same fields in page.js): the score and what it means, the reasons, each finding with
its numbers, each dispute with each bank's decision."""

from __future__ import annotations

from typing import Any

LEVELS = {"green": "no warning", "yellow": "watch: something to look at", "orange": "warning: the bank will ask",
          "red": "serious warning: the bank acts on it"}


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def numbers(detail: Any) -> str:
    """A finding's numbers: what was compared, against which threshold, with which statistic."""
    if not isinstance(detail, dict):
        return ""
    parts = []
    for label, key in (("compared", "compared"), ("threshold", "threshold"), ("statistic", "statistic"),
                       ("baseline", "baseline")):
        val = detail.get(key)
        if isinstance(val, dict) and val:
            parts.append(f"{label}: " + ", ".join(f"{k} {_num(v)}" for k, v in sorted(val.items())
                                                  if not isinstance(v, dict | list)))
    if not parts:  # chain findings (gaps, equivocation) carry their numbers at the top level
        parts.append(", ".join(f"{k} {_num(v)}" for k, v in sorted(detail.items())
                               if isinstance(v, int | float | str) and not isinstance(v, bool))[:300])
    return "; ".join(p for p in parts if p)


def finding_line(f: dict[str, Any]) -> str:
    detail = f.get("detail") if isinstance(f.get("detail"), dict) else {}
    what = detail.get("message") or detail.get("rule") or f.get("kind")
    nums = numbers(detail)
    return (f"#{f.get('id')} {f.get('severity')} {f.get('kind')}: {what}" + (f" ({nums})" if nums else "")
            + f"  [hash {str(f.get('hash'))[:16]}]")


def lines(doc: dict[str, Any] | None, complaint_contact: str = "") -> list[str]:
    if not doc:
        return ["No view fetched yet: run `edgeproof view --fetch` (the running gateway fetches it periodically)."]
    view = doc["view"]
    out = [f"What the bank sees about {view.get('enterprise_id')} (fetched {doc.get('fetched_at')}, "
           f"verified under the receiver's key)"]
    score = view.get("score") or {}
    if score:
        level = view.get("warning_level")
        out.append(f"Score {score.get('score')} points, grade {score.get('grade')}, warning level {level} "
                   f"({LEVELS.get(str(level), 'unknown')}), computed {score.get('created')}")
    else:
        out.append("No score computed yet.")
    for r in view.get("reasons") or []:
        out.append(f"  reason {r.get('code')}: {r.get('text')} ({_num(r.get('points_lost', 0))} points lost)")
    findings = view.get("findings") or []
    out.append(f"Findings ({len(findings)}):" if findings else "No findings.")
    out += ["  " + finding_line(f) for f in findings]
    ds = [d for d in view.get("disputes") or [] if d.get("type") == "dispute"]
    if ds:
        out.append("Disputes:")
    for d in ds:
        rec = d.get("record") or {}
        banks = "; ".join(f"{x.get('bank')} {x.get('decision')}" + (f": {x.get('reason')}" if x.get("reason") else "")
                          for x in d.get("decisions") or []) or "no bank has decided yet"
        out.append(f"  {d.get('key')} {rec.get('name')} finding #{(d.get('finding') or {}).get('id', '?')}: "
                   f"{d.get('status')} ({banks})")
    confirmations = [d for d in view.get("disputes") or [] if d.get("type") == "confirmation"]
    if confirmations:
        last = confirmations[-1].get("record") or {}
        out.append(f"Measures in force last confirmed {last.get('made_at')} ({len(confirmations)} confirmation(s)).")
    out.append("Who looked at your data: " + ("(access log not yet available from this receiver)"
                                              if view.get("access_log") is None else
                                              f"{len(view['access_log'])} entries"))
    if complaint_contact:
        out.append(f"Questions or complaints: {complaint_contact}")
    return out
