"""A bank's portfolio: every enterprise it serves, worst first, and what changed since its last run.

Per enterprise: the authenticity score as this bank is served it (its category view, feed._score_item),
the repayment assessment when the score report carries one (``repayment``; else ``not assessed``),
the coverage of this bank's facilities (the stored assessments, cloud_stub/coverage_run.py) and the
changes against the entry stored at the bank's previous portfolio run (``portfolio_runs``).

Worst first: the worse of the authenticity warning level, the repayment level and the worst facility
level (red > orange > yellow > not observed > ok/green), then the lower score. Each bank reads only its own
facilities; two banks serving one enterprise see the same score and their own coverage.
"""

from __future__ import annotations

import json
from typing import Any

from nacl.signing import SigningKey

from cloud_stub import banks, coverage_run, feed
from cloud_stub.db import iso, utc_now

RANK = {"red": 4, "orange": 3, "yellow": 2, "not_observed": 1, "green": 0, "ok": 0}
NOT_ASSESSED = {"status": "not assessed"}


def _score(conn: Any, grant: banks.Grant, key: SigningKey) -> tuple[dict[str, Any] | None, Any]:
    row = conn.execute("SELECT id, as_of, created, report, signature FROM scores WHERE enterprise_id = ?"
                       " ORDER BY id DESC LIMIT 1", (grant.enterprise_id,)).fetchone()
    if row is None:
        return None, None
    item = feed._score_item(tuple(row), grant, conn, key)
    auth = {"score_id": item["id"], "as_of": item["as_of"], "score": item["score"], "grade": item["grade"],
            "warning_level": item["warning_level"]}
    report = item["report"] if isinstance(item["report"], dict) else {}
    return auth, report.get("repayment")


def _repayment(rep: Any) -> dict[str, Any]:
    """The repayment assessment as the portfolio states it (issue 15 item 3 adds it to score reports)."""
    if not isinstance(rep, dict):
        return dict(NOT_ASSESSED)
    keep = ("status", "score", "grade", "warning_level", "level")
    out = {k: rep[k] for k in keep if k in rep}
    return {"status": "assessed", **out} if "status" not in out else out


def _coverage(assessments: list[dict[str, Any]]) -> dict[str, Any]:
    items = [{"facility_id": a["facility_id"], "coverage": a["coverage"], "level": a["level"],
              "value_range": a["value_range"], "outstanding": a["outstanding"], "currency": a["currency"],
              "as_of": a["as_of"], "flags": a["flags"]} for a in assessments]
    worst = max((i["level"] for i in items), key=lambda lv: RANK.get(lv, 0), default=None)
    return {"facilities": items, "worst_level": worst}


def _rank(e: dict[str, Any]) -> tuple[int, float, str]:
    auth = e["authenticity"] or {}
    rep = e["repayment"]
    worst = max(RANK.get(str(auth.get("warning_level")), 0), RANK.get(str(rep.get("warning_level")
                                                                           or rep.get("level")), 0),
                RANK.get(str(e["coverage"]["worst_level"]), 0))
    score = auth.get("score")
    return (-worst, float(score) if isinstance(score, int | float) else -1.0, e["enterprise_id"])


def changes(before: dict[str, Any] | None, now: dict[str, Any]) -> list[dict[str, Any]]:
    """What moved since the previous run: score, grade, warning level, repayment, each facility's level and
    coverage, facilities added or removed. ``[{"field", "before", "after"}]``; a first run: ``new``."""
    if before is None:
        return [{"field": "enterprise", "before": None, "after": "new"}]
    out = []
    a0, a1 = before.get("authenticity") or {}, now.get("authenticity") or {}
    for k in ("score", "grade", "warning_level"):
        if a0.get(k) != a1.get(k):
            out.append({"field": f"authenticity.{k}", "before": a0.get(k), "after": a1.get(k)})
    if before.get("repayment") != now.get("repayment"):
        out.append({"field": "repayment", "before": before.get("repayment"), "after": now.get("repayment")})
    f0 = {f["facility_id"]: f for f in (before.get("coverage") or {}).get("facilities", [])}
    f1 = {f["facility_id"]: f for f in now["coverage"]["facilities"]}
    for fid in sorted(set(f0) | set(f1)):
        b, a = f0.get(fid), f1.get(fid)
        for k in ("level", "coverage"):
            if (b or {}).get(k) != (a or {}).get(k):
                out.append({"field": f"facility.{fid}.{k}", "before": (b or {}).get(k), "after": (a or {}).get(k)})
    return out


def _entries(rdb: Any, bank_id: str, signing_key: SigningKey) -> tuple[list[dict[str, Any]], Any]:
    """Every served enterprise's entry now (without ``changes``), and the stored previous run's time."""
    ents = [e for e in banks.bank_enterprises(rdb, bank_id) if not e.get("terminated")]
    rows: list[dict[str, Any]] = []
    with rdb.read() as conn:
        latest = coverage_run.latest(conn, bank_id)
        prev = {r[0]: json.loads(r[1]) for r in conn.execute(
            "SELECT enterprise_id, entry FROM portfolio_runs WHERE bank_id = ?", (bank_id,)).fetchall()}
        prev_at = conn.execute("SELECT max(run_at) FROM portfolio_runs WHERE bank_id = ?", (bank_id,)).fetchone()[0]
        for e in ents:
            cats = e["categories"]
            grant = banks.Grant(bank_id, e["enterprise_id"], None if cats == ["*"] or cats is None
                                else frozenset(cats))
            auth, rep = _score(conn, grant, signing_key)
            cov = _coverage(sorted((a for a in latest.values() if a["enterprise_id"] == e["enterprise_id"]
                                    and coverage_run.not_served(a, cats) is None), key=lambda a: a["facility_id"]))
            entry = {"enterprise_id": e["enterprise_id"], "authenticity": auth, "repayment": _repayment(rep),
                     "coverage": cov}
            entry["changes"] = changes(prev.get(e["enterprise_id"]), entry)
            rows.append(entry)
    rows.sort(key=_rank)
    return rows, prev_at


def snapshot(rdb: Any, bank_id: str) -> int:
    """Store every entry as it is now: what the portfolio's ``changes`` compare with until the next run.

    Called by ``cloud coverage run`` before it assesses (a "run" is the bank's assessment run), so reading
    the portfolio never writes. The key only signs redacted score reports, which are not kept here."""
    rows, _ = _entries(rdb, bank_id, SigningKey.generate())
    now = iso(utc_now())
    with rdb.write() as conn:
        for entry in rows:
            keep = {k: v for k, v in entry.items() if k != "changes"}
            conn.execute("INSERT INTO portfolio_runs (bank_id, enterprise_id, run_at, entry) VALUES (?, ?, ?, ?)"
                         " ON CONFLICT (bank_id, enterprise_id) DO UPDATE SET run_at = excluded.run_at,"
                         " entry = excluded.entry", (bank_id, entry["enterprise_id"], now, json.dumps(keep)))
    return len(rows)


def portfolio(rdb: Any, bank_id: str, signing_key: SigningKey) -> dict[str, Any]:
    """The bank's portfolio page, signed; reads only."""
    rows, prev_at = _entries(rdb, bank_id, signing_key)
    page = {"kind": "portfolio", "bank": bank_id, "as_of": iso(utc_now()), "previous_run_at": prev_at,
            "enterprises": rows}
    return feed.sign_page(page, signing_key)
