"""`cloud offboard`: keys revoked, grants ended, archive written, hold, purge leaving only the tombstone
with a receiver-signed certificate; the other enterprise still verifies; banks see "terminated".

Real receiver on loopback (HTTP ingest of signed batches), real store (SQLite here, PostgreSQL in
test_offboard_postgres.py), the bank's own `feed verify`.
"""

from __future__ import annotations

import json
import tarfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cloud_helpers import FakeGateway, http, indicator, pin_of
from test_bank_api import insert_analysis, signed_finding

from cloud_stub import offboard
from cloud_stub.banks import add_bank
from cloud_stub.cli import cloud, feed
from cloud_stub.db import utc_now
from cloud_stub.enrollment import issue_token
from cloud_stub.errors import ReceiverError
from cloud_stub.feed_verify import verify_all, verify_feed
from gateway import wire
from gateway.commands.certificate import command as cert_cmd
from gateway.evidence_verify import verify_bundle


def _populate(receiver: Any) -> dict[str, Any]:
    """ent-a (two gateways) and ent-b, each with batches, findings, a score and alerts; banks for both."""
    gws = {}
    for gid, ent in (("gw-a1", "ent-a"), ("gw-a2", "ent-a"), ("gw-b1", "ent-b")):
        g = FakeGateway(gid, ent)
        receiver.enroll(g)
        for i in range(3):
            status, out = receiver.post(g.next(records=[indicator(i, 1.0 + i)]).envelope())
            assert status == 200, out
        gws[gid] = g
    for ent in ("ent-a", "ent-b"):
        insert_analysis(receiver.rdb, receiver.key, ent, [signed_finding("production_vs_energy", ["energy.kwh"])])
    tokens = {"a": add_bank(receiver.rdb, "bank-a", "ent-a")["token"],
              "ab": add_bank(receiver.rdb, "bank-ab", "ent-a")["token"]}
    tokens["ab"] = add_bank(receiver.rdb, "bank-ab", "ent-b")["token"]  # the token rotates: keep the last
    tokens["b"] = add_bank(receiver.rdb, "bank-b", "ent-b")["token"]
    with receiver.rdb.write() as conn:  # an unused enrollment token, to be deleted at offboarding
        from cloud_stub.enrollment import token_hash
        conn.execute("INSERT INTO enroll_tokens (token_hash, enterprise_id, created, expires) VALUES (?, ?, ?, ?)",
                     (token_hash("unused"), "ent-a", "2026-01-01T00:00:00.000Z", "2099-01-01T00:00:00.000Z"))
    return {"gws": gws, "tokens": tokens}


def _rows_of(receiver: Any, ent: str) -> dict[str, int]:
    with receiver.rdb.read() as conn:
        counts = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}" WHERE enterprise_id = ?', (ent,)).fetchone()[0]
                  for t in offboard.enterprise_tables(conn, receiver.rdb.dialect)}
        counts["gateways"] = conn.execute("SELECT COUNT(*) FROM gateways WHERE enterprise_id = ?", (ent,)).fetchone()[0]
        counts["enterprises"] = conn.execute("SELECT COUNT(*) FROM enterprises WHERE id = ?", (ent,)).fetchone()[0]
    return counts


def test_offboard_hold_then_purge_leaves_only_a_signed_tombstone(receiver: Any, tmp_path: Path) -> None:
    setup = _populate(receiver)
    tokens, pin = setup["tokens"], pin_of(receiver)
    before = _rows_of(receiver, "ent-a")
    assert before["batches"] == 6 and before["records"] == 6 and before["findings"] == 1 and before["scores"] == 1
    assert before["alerts"] >= 1 and before["gateway_keys"] == 2 and before["bank_grants"] == 2

    out = offboard.start(receiver.rdb, "ent-a", 30, "loan repaid")
    assert sorted(out["keys_revoked"]) == sorted(g.kid for n, g in setup["gws"].items() if n.startswith("gw-a"))
    assert out["grants_ended"] == ["bank-a", "bank-ab"] and out["tokens_deleted"] == 1
    arch = offboard.archive(receiver.rdb, "ent-a", tmp_path / "archive", receiver.key)
    assert Path(arch["path"]).stat().st_mode & 0o077 == 0
    assert arch["kind"] == "evidence-bundle"
    checked = verify_bundle(Path(arch["path"]))  # the expert's offline check of what the receiver archived
    assert checked.ok, checked.failures
    with tarfile.open(arch["path"]) as tar:
        assert len([n for n in tar.getnames() if n.endswith(".sig") and "/batches/" in n]) == 6

    # during the hold: nothing is accepted, nothing is served, the banks are told
    status, res = receiver.post(setup["gws"]["gw-a1"].next(records=[indicator(9)]).envelope())
    assert status == 403 and "revoked_key" in json.dumps(res)
    status, res = http("GET", f"{receiver.url}/v1/feed/ent-a/records", token=tokens["a"])
    assert status == 410 and res["code"] == "terminated"
    status, page = http("GET", f"{receiver.url}/v1/feed/enterprises", token=tokens["a"])
    assert status == 200 and page["enterprises"] == [
        {"enterprise_id": "ent-a", "categories": [], "granted_at": None, "consent": None,
         "terminated": out["started_at"]}]
    summary = verify_feed(receiver.url, "ent-a", tokens["a"], pin)
    assert summary["failures"] == [] and summary["terminated"] == out["started_at"]
    res = CliRunner().invoke(feed, ["verify", "--url", receiver.url, "--token", tokens["a"], "--pin-receiver-key", pin])
    assert res.exit_code == 0 and f"enterprise ent-a: terminated on {out['started_at']}" in res.stdout, res.output
    both = verify_all(receiver.url, tokens["ab"], pin)  # ent-a terminated, ent-b verified in full
    assert both["failures"] == [] and both["failed"] == 0
    assert [(s["enterprise_id"], s.get("terminated") is not None, s["records"]) for s in both["enterprises"]] == [
        ("ent-a", True, 0), ("ent-b", False, 3)]
    with pytest.raises(ReceiverError, match="terminated"):
        add_bank(receiver.rdb, "bank-new", "ent-a")
    with pytest.raises(ReceiverError, match="no new enrollment"):
        issue_token(receiver.rdb, "ent-a")
    with pytest.raises(ReceiverError, match="held until"):
        offboard.purge(receiver.rdb, "ent-a", receiver.key)
    assert offboard.due(receiver.rdb) == []
    from cloud_stub.analysis import analyse_all

    assert [a.enterprise_id for a in analyse_all(receiver.rdb, signing_key=receiver.key)] == ["ent-b"]

    # after the hold: purged, counted and digested, signed by the receiver
    later = utc_now() + timedelta(days=31)
    assert offboard.due(receiver.rdb, later) == ["ent-a"]
    at_purge = _rows_of(receiver, "ent-a")  # the refused batch added a rejected_batch finding during the hold
    assert at_purge["findings"] == 2 and at_purge["enroll_tokens"] == before["enroll_tokens"] - 1
    res = offboard.purge(receiver.rdb, "ent-a", receiver.key, now=later)
    assert all(n == 0 for n in _rows_of(receiver, "ent-a").values()), _rows_of(receiver, "ent-a")
    cert = wire.verify_certificate(res["certificate"], bytes(receiver.key.verify_key))
    assert cert["kind"] == "edgeproof.receiver.destruction" and cert["archive"]["sha256"] == arch["sha256"]
    deleted = {t: v["rows"] for t, v in cert["deleted"].items()}
    assert deleted == {t: n for t, n in at_purge.items() if n}
    assert all(len(v["sha256"]) == 64 for v in cert["deleted"].values())
    assert sorted(k["kid"] for k in cert["gateway_keys"]) == sorted(
        g.kid for n, g in setup["gws"].items() if n.startswith("gw-a"))  # kept: archived batches stay checkable
    with receiver.rdb.read() as conn:
        tomb = offboard.tombstone(conn, "ent-a")
    assert tomb["purged_at"] == cert["purged_at"] and tomb["certificate"] == res["certificate"]
    tampered = dict(res["certificate"], body=wire.b64(wire.canonical_json({**cert, "deleted": {}})))
    with pytest.raises(wire.WireError):
        wire.verify_certificate(tampered, bytes(receiver.key.verify_key))

    # the other enterprise is untouched and verifies; the banks still see ent-a as terminated
    assert _rows_of(receiver, "ent-b")["batches"] == 3
    b = verify_feed(receiver.url, "ent-b", tokens["b"], pin)
    assert b["failures"] == [] and b["records"] == 3 and b["scores"] == 2  # inserted + analysed during the hold
    summary = verify_feed(receiver.url, "ent-a", tokens["a"], pin)
    assert summary["failures"] == [] and summary["terminated"] == out["started_at"]
    with pytest.raises(ReceiverError, match="already purged|purged at"):
        offboard.purge(receiver.rdb, "ent-a", receiver.key, now=later)


def test_cli_offboard_with_no_hold_purges_at_once(receiver: Any, tmp_path: Path) -> None:
    setup = _populate(receiver)
    runner = CliRunner()
    db = receiver.rdb.url if receiver.rdb.dialect == "postgresql" else str(receiver.db_path)
    base = ["offboard", "--db", db, "--key", str(tmp_path / "receiver.key")]
    res = runner.invoke(cloud, [*base, "--enterprise", "ent-a", "--hold-days", "0", "--archive",
                                str(tmp_path / "arch"), "--reason", "contract ended"])
    assert res.exit_code == 0, res.output
    assert "2 gateway key(s) revoked" in res.stdout and "purged" in res.stdout
    assert all(n == 0 for n in _rows_of(receiver, "ent-a").values())
    (cert_file,) = list((tmp_path / "arch").glob("destruction-ent-a-*.json"))
    cert = wire.verify_certificate(json.loads(cert_file.read_text()), bytes(receiver.key.verify_key))
    assert cert["reason"] == "contract ended" and cert["deleted"]["records"]["rows"] == 6
    res = runner.invoke(cert_cmd, ["verify", str(cert_file), "--receiver", receiver.url])
    assert res.exit_code == 0 and "valid: signed by receiver key" in res.stdout and "records" in res.stdout
    res = runner.invoke(cloud, [*base, "--enterprise", "ent-a"])
    assert res.exit_code == 1 and "already_offboarded" in res.stderr
    res = runner.invoke(cloud, [*base, "--enterprise", "nope"])
    assert res.exit_code == 1 and "unknown_enterprise" in res.stderr
    res = runner.invoke(cloud, [*base, "--status", "--json"])
    assert [t["enterprise_id"] for t in json.loads(res.stdout)["offboarded"]] == ["ent-a"]
    res = runner.invoke(cloud, [*base, "--purge-due"])
    assert res.exit_code == 0 and "nothing is due" in res.stdout
    out = verify_feed(receiver.url, "ent-b", setup["tokens"]["b"], pin_of(receiver))
    assert out["failures"] == [] and out["records"] == 3


def test_tables_added_later_are_purged_and_a_chained_log_can_be_blanked_instead(receiver: Any) -> None:
    _populate(receiver)
    with receiver.rdb.write() as conn:  # as another feature would add them: keyed by enterprise_id
        conn.execute("CREATE TABLE extra_things (enterprise_id TEXT NOT NULL, what TEXT)")
        conn.execute("CREATE TABLE chained_log (id INTEGER PRIMARY KEY, enterprise_id TEXT, detail TEXT, "
                     "hash TEXT NOT NULL)")
        for ent in ("ent-a", "ent-b"):
            conn.execute("INSERT INTO extra_things VALUES (?, ?)", (ent, f"{ent} thing"))
            conn.execute("INSERT INTO chained_log (id, enterprise_id, detail, hash) VALUES (?, ?, ?, ?)",
                         (1 if ent == "ent-a" else 2, ent, f"{ent} pulled page 1", ent * 4))

    def blank(conn: Any, ent: str) -> tuple[int, str]:  # keeps the rows (and their hashes) for the chain
        n = conn.execute("UPDATE chained_log SET detail = NULL WHERE enterprise_id = ?", (ent,)).rowcount
        return n, "b" * 64

    offboard.register_purger("chained_log", blank)
    try:
        offboard.start(receiver.rdb, "ent-a", 0)
        cert = offboard.purge(receiver.rdb, "ent-a", receiver.key)
    finally:
        offboard.PURGERS.pop("chained_log")
    assert cert["deleted"]["extra_things"]["rows"] == 1 and cert["deleted"]["chained_log"]["sha256"] == "b" * 64
    with receiver.rdb.read() as conn:
        assert conn.execute("SELECT enterprise_id FROM extra_things").fetchall() == [("ent-b",)]
        assert conn.execute("SELECT enterprise_id, detail, hash FROM chained_log ORDER BY id").fetchall() == [
            ("ent-a", None, "ent-a" * 4), ("ent-b", "ent-b pulled page 1", "ent-b" * 4)]
