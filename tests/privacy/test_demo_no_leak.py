"""Minimum necessary, checked on a full run of the real demo: every record of every batch the
gateway signed is an indicator or a consent record; no raw reading series; no counterparty or
product name from the enterprise's exports; amounts only as ranges; and the audit log's chain
verifies with the enterprise's own command."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from gateway import wire
from gateway.indicators.registry import all_indicators
from gateway.privacy.tokens import normalise_name
from gateway.profile.load import PROFILE_DIR
from gateway.replay.scenarios import CUSTOMERS as HISTORY_CUSTOMERS
from gateway.replay.scenarios import PRODUCTS as HISTORY_PRODUCTS
from gateway.wire import health as wire_health
from gateway.wire import identity as wire_identity
from tests.fixtures.erp.make_fixtures import CUSTOMERS, PRODUCTS, SUPPLIERS, write_sim

RECORD_KEYS = {"type", "name", "category", "subject", "window", "value", "unit", "q", "def", "detail"}
AMOUNT_BUCKETS = [0, 10000, 50000, 100000, 500000, 1000000, 5000000, 20000000]


def _scalar(v: object) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def _device_names(profile: Path) -> list[str]:
    from gateway.profile import load_profile

    return [d.name for d in load_profile(profile).devices]


@pytest.mark.slow
def test_demo_uplinks_indicators_only_and_no_names(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    write_sim(exports, date.today(), days=40)  # dated up to yesterday, so their windows are closed
    text = (PROFILE_DIR / "sim-factory.toml").read_text(encoding="utf-8")
    assert "@profiles/sim-erp/" in text
    prof = tmp_path / "factory.toml"
    prof.write_text(text.replace("@profiles/sim-erp/", f"{exports}/"), encoding="utf-8")
    keep = tmp_path / "demo"
    res = subprocess.run([sys.executable, "-m", "gateway.cli", "demo", "--profile", str(prof), "--seconds", "14",
                          "--keep", str(keep), "--json"], capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["ok"] and summary["records_failed"] == 0
    # the bank's facility on the history: coverage from the verified pledged weight (a number, or "not observed"
    # as null, never 0), its level and each covenant's status
    cov = summary["coverage"]
    assert cov["facility_id"] == "loan-demo-1" and cov["level"] in ("ok", "yellow", "orange", "red", "not_observed")
    assert (cov["coverage"] is None) == (cov["level"] == "not_observed") and cov["coverage"] != 0
    assert {c["status"] for c in cov["covenants"]} <= {"met", "breached", "not_observed", "undetermined"}
    assert summary["repayment"]["status"] in ("assessed", "not_assessed")

    db = sqlite3.connect(keep / "gateway" / "edgeproof.db")
    bodies = [row[0] for row in db.execute("SELECT body FROM outbox ORDER BY seq")]
    assert bodies and len(bodies) == summary["batches_made"]
    # the onboarded history (edgeproof replay) leaves the site through the same policy
    hist = sqlite3.connect(keep / "gateway-history" / "edgeproof.db")
    hist_bodies = [row[0] for row in hist.execute("SELECT body FROM outbox ORDER BY seq")]
    hist.close()
    assert hist_bodies and len(hist_bodies) == summary["history_batches_accepted"]
    bodies += hist_bodies
    names = [*CUSTOMERS, *PRODUCTS, *SUPPLIERS, *HISTORY_CUSTOMERS, *HISTORY_PRODUCTS]
    forbidden = {n for n in names} | {normalise_name(n) for n in names} | {"刹车盘", "上海汽车", "ACME", "acme"}
    known = set(all_indicators())
    by_category: dict[str, int] = {}
    health = identities = 0
    consent_seen: set[str | None] = set()
    device_names = {f'"{d}"' for d in _device_names(prof)}
    for body in bodies:
        text = body.decode("utf-8")
        for name in forbidden:
            assert name not in text, f"{name!r} left the site"
        for rec in wire.decode_body(body)["records"]:
            assert rec["type"] in ("indicator", "consent", "health", "device_identity"), rec
            if rec["type"] == "consent":
                assert rec["name"] == "consent.change"
                continue
            if rec["type"] == "device_identity":  # a meter's ids: the device as a keyed token, no reading
                wire_identity.check_identity(rec)
                assert rec["device"].startswith("d_") and not any(d in json.dumps(rec) for d in device_names), rec
                identities += 1
                continue
            if rec["type"] == "health":  # counts and states only: no device name, no reading
                wire_health.check_health(rec)
                assert not any(d in text for d in device_names), rec
                health += 1
                consent_seen.add(rec["consent"]["event"])
                continue
            assert set(rec) <= RECORD_KEYS, rec
            assert rec["name"] in known, rec  # a registered indicator, never a raw meaning
            assert _scalar(rec["value"]), rec  # one number per window, never a series
            for k, v in (rec.get("detail") or {}).items():
                assert _scalar(v) or (k == "range" and len(v) == 2), rec
            if rec["unit"] == "CNY" and rec["value"] is not None:
                assert rec["value"] in AMOUNT_BUCKETS and "bucketed" in rec["q"], rec
            if rec["unit"] == "index" and rec["value"] is not None:
                assert rec["value"] % 5 == 0, rec
            if rec["subject"].startswith(("product:", "customer:")):
                assert rec["subject"].split(":", 1)[1][:2] in ("p_", "c_"), rec
            by_category[rec["category"]] = by_category.get(rec["category"], 0) + 1
    assert health >= 1 and summary["fleet"]["state"] == "online"  # the demo shows a signed health summary
    assert "initial" in consent_seen  # a summary names the last consent change (the first grant)
    assert identities >= 1  # the emulated Eastron meters answered their serial registers (issue 17)
    # the check means something only if enterprise data and device data both went through it
    assert by_category.get("erp", 0) > 0 and by_category.get("mes", 0) > 0 and by_category.get("energy", 0) > 0
    assert db.execute("SELECT COUNT(*) FROM readings").fetchone()[0] > 0  # raw readings exist, on site only
    # the tokenised rows on site contain no names either; the raw lines only in the quarantine
    fields = " ".join(r[0] for r in db.execute("SELECT fields FROM erp_rows"))
    assert not any(n in fields for n in names)
    db.close()

    verify = subprocess.run([sys.executable, "-m", "gateway.cli", "audit", "verify", "--db",
                             str(keep / "gateway" / "edgeproof.db"), "--json"], capture_output=True, text=True,
                            timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    v = json.loads(verify.stdout)
    assert v["ok"] and v["batches"] == summary["batches_made"] and v["consent_changes"] >= 1
