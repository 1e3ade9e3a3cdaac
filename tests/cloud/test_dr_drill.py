"""The disaster-recovery drill: ingest, back up, ingest more, destroy the receiver, restore into a
fresh one, the gateways resend what it lacks, and the bank's ``feed verify`` passes with every record.

Real parts only: two real gateways (Store + Batcher + Sender + HTTP transport + head statements),
the receiver's real HTTP API on loopback, the real ``cloud backup`` / ``cloud restore`` commands
as subprocesses, and the bank's real ``verify_feed``. ``test_dr_drill_postgres.py`` runs every
test here again on a throwaway PostgreSQL server (``pg_dump`` / ``pg_restore``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cloud_helpers import T0

from cloud_stub import receiver_key
from cloud_stub.backup import BackupError, backup, restore
from cloud_stub.banks import add_bank
from cloud_stub.db import open_db
from cloud_stub.enrollment import issue_token
from cloud_stub.feed_verify import verify_feed
from cloud_stub.http_api import create_app
from cloud_stub.rule_inputs import CHAIN_KINDS
from cloud_stub.rules.chain_integrity_v2 import ChainIntegrityV2
from cloud_stub.server import Running
from gateway import wire
from gateway.identity import enroll, init_identity, load_identity
from gateway.store import Store
from gateway.uplink.batcher import Batcher
from gateway.uplink.heads import HeadSigner
from gateway.uplink.http import HttpTransport
from gateway.uplink.sender import Sender
from gateway.uplink.transport import TransportError

REPO = Path(__file__).resolve().parents[2]
ENT = "ent-dr"


@dataclass
class Targets:
    """Where receivers live: SQLite files here; the PostgreSQL module swaps in databases."""

    base: Path
    new: Callable[[], str] = field(init=False)
    destroy: Callable[[str], None] = field(init=False)

    def __post_init__(self) -> None:
        def new() -> str:
            return str(self.base / f"receiver-{uuid.uuid4().hex[:8]}.db")

        def destroy(db: str) -> None:
            for sfx in ("", "-wal", "-shm"):
                Path(db + sfx).unlink(missing_ok=True)

        self.new, self.destroy = new, destroy


@pytest.fixture
def targets(tmp_path: Path) -> Targets:
    return Targets(tmp_path)


class ReceiverSite:
    """One receiver (database + key + HTTP API on a fixed port) that can be destroyed and restored."""

    def __init__(self, db: str, key_path: Path, port: int = 0) -> None:
        self.db, self.key_path = db, key_path
        self.rdb = open_db(db)
        self.key = receiver_key.load_or_create(key_path)
        self.running = Running(create_app(self.rdb, self.key), port=port)
        self.url = self.running.url
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.running.stop()
        self.rdb.close()


class Gw:
    """A real gateway: identity, store, batcher, and its uplink to one receiver URL."""

    def __init__(self, base: Path, name: str, url: str, rdb: Any) -> None:
        self.state = base / name
        init_identity(self.state, name, "t")
        enroll(self.state, url, issue_token(rdb, ENT)["token"])
        self.store = Store(self.state / "edgeproof.db", "NORMAL")
        self.url, self.name = url, name
        self.windows = 0

    def measure(self, n: int) -> int:
        """``n`` more 15-minute windows of two categories, packed into signed batches."""
        rows = [{"name": name, "category": cat, "subject": "press-1", "window_start": T0 + 900 * i, "window_len": 900,
                 "value": 10.0 + i, "unit": "u", "quality": [], "version": 1, "detail": {}}
                for i in range(self.windows, self.windows + n)
                for cat, name in (("energy", "energy.kwh"), ("machine", "machine.cycles"))]
        self.windows += n
        self.store.add_indicators(rows)
        Batcher(self.store, load_identity(self.state), max_records=3).pack_all()
        return len(rows)

    def uplink(self, force_head: bool = False) -> Sender:
        """One round of the real uplink: send what is pending, then a head statement."""
        sender = Sender(self.store, HttpTransport(self.url), heads=HeadSigner(self.store, load_identity(self.state)))

        async def go() -> None:
            await sender.send_pending()
            if force_head and await sender.send_head(force=True):
                await sender.send_pending()  # the statement's chain_seq may have rewound the line

        asyncio.run(go())
        return sender


def cloud_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "cloud_stub", *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=REPO)


@pytest.fixture
def drill(targets: Targets, tmp_path: Path) -> Iterator[dict[str, Any]]:
    site = ReceiverSite(targets.new(), tmp_path / "receiver.key")
    gws = [Gw(tmp_path, f"gw-dr-{i}", site.url, site.rdb) for i in range(2)]
    state = {"site": site, "gws": gws, "targets": targets, "tmp": tmp_path,
             "bank": add_bank(site.rdb, "bank-dr", ENT)["token"], "pin": wire.b64(bytes(site.key.verify_key))}
    yield state
    state["site"].stop()
    for g in gws:
        g.store.close()


def _chain_findings(rdb: Any) -> list[tuple[str, dict[str, Any]]]:
    with rdb.read() as conn:
        rows = conn.execute("SELECT kind, detail FROM findings WHERE enterprise_id = ? ORDER BY id", (ENT,)).fetchall()
    return [(k, json.loads(d)) for k, d in rows]


def test_the_drill_loses_nothing_and_doubles_nothing(drill: dict[str, Any]) -> None:
    site, gws, targets, tmp = drill["site"], drill["gws"], drill["targets"], drill["tmp"]
    sent = sum(g.measure(6) for g in gws)
    for g in gws:
        assert g.uplink().backlog() == 0
    archive = tmp / "backups" / "receiver.tar"
    res = cloud_cli("backup", "--db", site.db, "--out", str(archive), "--key", str(site.key_path), "--json")
    assert res.returncode == 0, res.stderr
    made = json.loads(res.stdout)
    assert made["key_included"] and made["counts"]["records"] == sent
    assert archive.stat().st_mode & 0o777 == 0o600
    sent += sum(g.measure(5) for g in gws)  # accepted after the backup: the restored receiver lacks these
    for g in gws:
        assert g.uplink().backlog() == 0
    tips = {g.name: g.store.outbox_head() for g in gws}

    # Destroy the receiver (database and key), restore into a fresh one at the same address.
    port = site.port
    site.stop()
    targets.destroy(site.db)
    site.key_path.unlink()
    fresh_db, fresh_key = targets.new(), tmp / "restored" / "receiver.key"
    fresh_key.parent.mkdir(mode=0o700)
    res = cloud_cli("restore", "--from", str(archive), "--db", fresh_db, "--key", str(fresh_key), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["counts"]["records"] == made["counts"]["records"]
    assert fresh_key.stat().st_mode & 0o777 == 0o600
    site = drill["site"] = ReceiverSite(fresh_db, fresh_key, port=port)
    assert wire.b64(bytes(site.key.verify_key)) == drill["pin"]  # banks keep their pin

    # gw-dr-0 has new data: its next batch is ahead of the restored chain -> resend_from.
    # gw-dr-1 has none: its head statement's chain_seq shows the receiver is behind -> rewind.
    sent += gws[0].measure(2)
    first = gws[0].uplink(force_head=True)
    gws[1].uplink(force_head=True)
    assert first.backlog() == 0
    with site.rdb.read() as conn:
        heads = dict(conn.execute("SELECT id, last_seq FROM gateways").fetchall())
        per_batch = conn.execute("SELECT count(*), count(DISTINCT hash) FROM batches").fetchone()
        recs = conn.execute("SELECT count(*), count(DISTINCT batch_hash || ':' || idx) FROM records").fetchone()
    assert heads == {gws[0].name: gws[0].store.outbox_head(), gws[1].name: tips[gws[1].name]}
    assert per_batch[0] == per_batch[1] and recs == (sent, sent)  # every record, none twice

    # The observed gap was answered with resend_from and closed by the resend: none stands.
    found = _chain_findings(site.rdb)
    observed = {(d["expected_seq"], d["received_seq"]) for k, d in found if k == "gap_observed"}
    filled = {(d["expected_seq"], d["received_seq"]) for k, d in found if k == "gap_filled"}
    assert observed and observed == filled, found
    assert not [k for k, _ in found if k not in ("gap_observed", "gap_filled")], found
    ev = _inputs(site.rdb)
    assert [f.key for f in ChainIntegrityV2().evaluate(ev, ChainIntegrityV2.defaults)] == []

    s = verify_feed(site.url, ENT, drill["bank"], drill["pin"], page_limit=50)
    assert s["failures"] == [], s["failures"]
    assert s["records"] == sent


def _inputs(rdb: Any) -> Any:
    from cloud_stub.rule_inputs import load_rule_inputs

    with rdb.read() as conn:
        max_fid = conn.execute("SELECT coalesce(max(id), 0) FROM findings").fetchone()[0]
        max_rid = conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0]
        return load_rule_inputs(conn, ENT, T0 - 86400, T0 + 30 * 86400, max_rid, max_fid)


def test_the_out_of_order_answer_names_where_to_resend_from(drill: dict[str, Any]) -> None:
    site, g = drill["site"], drill["gws"][0]
    g.measure(6)
    g.uplink()
    batches = g.store.outbox_after(0, 100)
    with site.rdb.write() as conn:  # the receiver lost its last two batches (as after a restore)
        keep = batches[-3]
        for row in batches[-2:]:
            conn.execute("DELETE FROM records WHERE batch_hash = ?", (row[1],))
            conn.execute("DELETE FROM batches WHERE hash = ?", (row[1],))
        conn.execute("UPDATE gateways SET last_seq = ?, last_hash = ? WHERE id = ?", (keep[0], keep[1], g.name))
    g.measure(1)
    nxt = g.store.outbox_after(batches[-1][0], 1)[0]
    env = wire.SignedBatch(body=nxt[2], sig=nxt[3], kid=nxt[4], head_sig=nxt[5]).envelope()
    from cloud_helpers import http

    status, ack = http("POST", f"{site.url}/v1/batches", env)
    assert status == 409 and ack["code"] == "out_of_order"
    assert ack["resend_from"] == ack["expected_seq"] == keep[0] + 1


def test_a_gateway_that_no_longer_keeps_what_is_asked_says_so(drill: dict[str, Any]) -> None:
    site, g = drill["site"], drill["gws"][0]
    g.measure(4)
    g.uplink()
    head = g.store.outbox_head()
    assert g.store.purge_acked(0.0, 1e12, now=4e9) == head - 1  # all but the acknowledged newest
    assert g.store.outbox_first() == head
    with site.rdb.write() as conn:  # the receiver restored from a backup older than the retention
        conn.execute("DELETE FROM records WHERE gateway_id = ?", (g.name,))
        conn.execute("DELETE FROM batches WHERE gateway_id = ?", (g.name,))
        conn.execute("UPDATE gateways SET last_seq = 0, last_hash = ? WHERE id = ?", (wire.GENESIS_PREV, g.name))
    g.measure(1)
    with pytest.raises(TransportError, match=r"asks for batches from seq 1, but this gateway keeps acknowledged "
                                             rf"batches only from seq {head} \(store.retain_acked_days\)"):
        g.uplink()


def test_acknowledged_batches_are_kept_for_the_window_then_purged(tmp_path: Path) -> None:
    store = Store(tmp_path / "gw.db", "NORMAL")
    try:
        for seq in range(1, 6):
            store.append_batch(seq, f"h{seq}", b"{}", b"s", "k", [], ["energy"], 0, {})
        store.set_acked("http:a", 4)
        store.set_acked("http:b", 2)
        now = 2e9
        assert store.purge_acked(86400.0, 1e12, now=now) == 1  # below both acknowledged seqs (2): seq 1
        assert store.outbox_first() == 2
        assert store.purge_acked(86400.0, 1e12, now=0.0) == 0  # inside the window: kept
        store.set_acked("http:b", 5)
        assert store.purge_acked(86400.0, 1e12, now=now) == 2  # 2 and 3; 4 (a's ack) and 5 (the newest) stay
        assert store.outbox_first() == 4 and store.outbox_head() == 5
    finally:
        store.close()


def test_restore_refuses_a_target_that_is_not_empty_unless_forced(drill: dict[str, Any]) -> None:
    site, tmp = drill["site"], drill["tmp"]
    drill["gws"][0].measure(2)
    drill["gws"][0].uplink()
    archive = tmp / "b.tar"
    backup(site.db, archive, site.key_path)
    with pytest.raises(BackupError, match="is not empty: refusing to restore over it without --force"):
        restore(archive, site.db, site.key_path)
    res = cloud_cli("restore", "--from", str(archive), "--db", site.db, "--key", str(site.key_path))
    assert res.returncode == 1 and "not empty" in res.stderr and "Traceback" not in res.stderr
    other = drill["targets"].new()
    key2 = tmp / "other.key"
    key2.write_bytes(os.urandom(32))
    os.chmod(key2, 0o600)
    with pytest.raises(BackupError, match="holds another receiver key"):
        restore(archive, other, key2)
    # --force: over a receiver database that holds tables (an empty schema here), and another key
    open_db(other).close()
    with pytest.raises(BackupError, match="is not empty"):
        restore(archive, other, tmp / "fresh.key")
    out = restore(archive, other, key2, force=True)
    assert out["counts"]["batches"] >= 1 and key2.read_bytes() == site.key_path.read_bytes()
    assert key2.stat().st_mode & 0o777 == 0o600


def test_a_damaged_or_newer_backup_is_refused_by_name(drill: dict[str, Any], tmp_path: Path) -> None:
    site = drill["site"]
    archive = tmp_path / "b.tar"
    backup(site.db, archive, site.key_path)
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    data_name = next(n for n in members if n.startswith("receiver.") and n != "receiver.key")

    def rewrite(path: Path, **change: bytes) -> Path:
        with tarfile.open(path, "w") as tar:
            for name, blob in {**members, **change}.items():
                import io

                info = tarfile.TarInfo(name)
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
        return path

    damaged = rewrite(tmp_path / "damaged.tar", **{data_name: members[data_name][:-7] + b"garbage"})
    with pytest.raises(BackupError, match=f"member {data_name} does not match its SHA-256"):
        restore(damaged, drill["targets"].new(), tmp_path / "k1")
    manifest = json.loads(members["manifest.json"])
    manifest["schema_version"] += 1
    newer = rewrite(tmp_path / "newer.tar", **{"manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(BackupError, match=r"schema version \d+ is newer than this receiver's"):
        restore(newer, drill["targets"].new(), tmp_path / "k2")
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar")
    res = cloud_cli("restore", "--from", str(junk), "--db", drill["targets"].new(), "--key", str(tmp_path / "k3"))
    assert res.returncode == 1 and "not an EdgeProof receiver backup" in res.stderr


def test_the_chain_kinds_include_gap_filled() -> None:
    assert "gap_filled" in CHAIN_KINDS


def test_sqlite_backup_is_a_consistent_database(drill: dict[str, Any], tmp_path: Path) -> None:
    site = drill["site"]
    if site.rdb.dialect != "sqlite":
        pytest.skip("SQLite only")
    drill["gws"][0].measure(2)
    drill["gws"][0].uplink()
    archive = tmp_path / "b.tar"
    out = backup(site.db, archive)  # the key found next to the db? here it is elsewhere: not included
    assert out["key_included"] is False
    with tarfile.open(archive) as tar:
        tar.extract("receiver.sqlite", tmp_path, filter="data")
    conn = sqlite3.connect(tmp_path / "receiver.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == 4
    conn.close()
