"""Declared events through real parts: `edgeproof declare` on the command line -> the running
gateway signs them -> HTTP uplink -> receiver -> bank feed (and feed verify) -> rule inputs.

The profile grants only ``energy``: declarations leave whatever the consent categories, and
a bank granted only ``energy`` sees them too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cloud_stub.db import ReceiverDB
from cloud_stub.declarations import load_declarations
from gateway.profile import load_profile
from tests.e2e.conftest import PROFILE
from tests.e2e.test_chain_http_mqtt import run_gateway
from tests.support.processes import ENTERPRISE, ReceiverProc, cloud, gateway_env

CONSENT = '\n[consent]\n\n[[consent.grants]]\ncategories = ["energy"]\n'


def edgeproof(state: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args, "--state", str(state), "--profile",
                           str(profile)], capture_output=True, text=True, timeout=60, env=gateway_env())


def test_declarations_reach_the_bank_signed_whatever_the_consent(tmp_path: Path, receiver_proc: ReceiverProc,
                                                                 enrolled_state: Path) -> None:
    prof = tmp_path / "p.toml"
    prof.write_text(PROFILE.read_text(encoding="utf-8").split("\n[[devices]]")[0] + CONSENT
                    + "\n[[devices]]" + PROFILE.read_text(encoding="utf-8").split("\n[[devices]]", 1)[1],
                    encoding="utf-8")
    bad = edgeproof(enrolled_state, prof, "declare", "add", "--kind", "holiday", "--from", "2026-10-08",
                    "--to", "2026-10-01")
    assert bad.returncode == 2 and "--to" in bad.stderr and "a time after from" in bad.stderr
    got = edgeproof(enrolled_state, prof, "declare", "add", "--kind", "holiday", "--from", "2026-10-01T00:00:00+08:00",
                    "--to", "2026-10-08T00:00:00+08:00", "--note", "国庆 (Zhang San on call)", "--json")
    assert got.returncode == 0, got.stderr
    first = json.loads(got.stdout)
    assert first["id"] == 1 and first["signed_in_batch"] is None and first["from"] == "2026-09-30T16:00:00Z"
    got = edgeproof(enrolled_state, prof, "declare", "add", "--kind", "maintenance", "--from", "2026-12-01",
                    "--to", "2026-12-02", "--assets", "press-1")
    assert got.returncode == 0 and "declared #2" in got.stdout, got.stderr
    assert edgeproof(enrolled_state, prof, "declare", "withdraw", "2").returncode == 0

    gw = run_gateway(load_profile(prof), enrolled_state, 3)
    assert gw.sender.status.rejected == {}
    listed = json.loads(edgeproof(enrolled_state, prof, "declare", "list", "--json").stdout)
    assert [i["signed_in_batch"] is not None for i in listed] == [True, True, True]
    assert listed[1]["withdrawn_by"] == 3
    text = edgeproof(enrolled_state, prof, "declare", "list").stdout
    assert "#1 holiday 2026-09-30T16:00:00Z .. 2026-10-07T16:00:00Z whole site" in text and "国庆" in text
    assert "withdrawn by #3" in text and "#3 withdraws #2" in text
    audit = json.loads(edgeproof(enrolled_state, prof, "audit", "verify", "--json").stdout)
    assert audit["ok"] is True, audit

    bank = cloud("bank", "add", "--db", str(receiver_proc.db), "--name", "energy-bank", "--enterprise", ENTERPRISE,
                 "--categories", "energy")
    records = receiver_proc.feed(bank)
    decl = [r["record"] for r in records if r["record"]["type"] == "declaration"]
    assert [(d["name"], d["id"]) for d in decl] == [("declaration.declare", 1), ("declaration.declare", 2),
                                                    ("declaration.withdraw", 3)]
    assert decl[0]["kind"] == "holiday" and decl[0]["assets"] == [] and decl[0]["category"] == "declaration"
    assert decl[0]["window"] == {"start": 1790784000, "len": 7 * 86400}
    assert decl[0]["note_token"].startswith("x_") and "Zhang" not in json.dumps(records, ensure_ascii=False)
    assert decl[1]["assets"] == ["press-1"] and decl[2]["withdraws"] == 2
    assert {r["record"].get("category") for r in records} <= {"energy", "declaration", "consent"}  # consent held others
    v = receiver_proc.verify(bank)
    assert v["failed"] == 0 and v["verified"] == len(records), v

    rdb = ReceiverDB(receiver_proc.db)
    try:
        with rdb.read() as conn:
            ds = load_declarations(conn, ENTERPRISE, 1788192000, 1798761600, 10**9)
    finally:
        rdb.close()
    gw_id = json.loads((enrolled_state / "identity.json").read_text())["gateway_id"]
    assert [(d.key, d.kind, d.withdrawn_at is not None, d.late) for d in ds.items] == [
        (f"{gw_id}/1", "holiday", False, True), (f"{gw_id}/2", "maintenance", True, True)]  # both late
