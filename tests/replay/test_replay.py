"""`edgeproof replay` end to end: the real CLI in its own process, a real receiver on loopback.

What a bank relies on: a replay is its own signed chain (its own gateway identity), every
batch says it is a replay of which data and which period, is dated by the simulated clock,
and an outage in the recorded data shows as a restart with no batches made during it.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cloud_stub.enrollment import revoke_key
from gateway.profile import load_profile
from gateway.replay.data import ReplayError, parse_timestamp
from gateway.replay.scenarios import ScenarioConfig, write_scenario
from gateway.replay.session import replay
from gateway.store import Store
from tests.replay.replay_helpers import (
    ROOT,
    LiveReceiver,
    data_sha256,
    edgeproof,
    replay_identity,
    run_replay,
    start_receiver,
)


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveReceiver]:
    r = start_receiver(tmp_path_factory.mktemp("receiver"))
    yield r
    r.stop()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three days (Mon-Wed) sampled every 10 minutes."""
    d = tmp_path_factory.mktemp("small")
    write_scenario(ScenarioConfig(scenario="honest", days=3, seed=7, interval_s=600), d)
    return d


def iso_ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_a_replay_is_its_own_chain_marked_and_dated_by_the_simulated_clock(receiver, small, tmp_path) -> None:
    state = tmp_path / "history"
    replay_identity(receiver, state, "ent-small", "sim-history-history")
    out = run_replay(receiver, state, small, "--pack-every", "1h")
    rows = {p.stem: sum(1 for _ in p.open()) - 1 for p in small.glob("*.csv")}
    cols = {p.stem: len(next(csv.reader(p.open()))) - 1 for p in small.glob("*.csv")}
    assert out["readings"] == sum(rows[d] * cols[d] for d in rows)
    assert out["polls"] == sum(rows.values())
    assert out["failed_polls"] == 0 and out["offline"] == [] and out["restarts"] == 0
    assert out["windows"] == 72  # every hour of the three local days
    assert out["batches"] == out["accepted"] > 0 and out["duplicates"] == 0
    assert out["replay"] == {"data_sha256": data_sha256(small), "from": "2026-09-06T16:10:00Z",
                             "to": "2026-09-09T16:00:00Z"}
    assert {d["interval_s"] for d in out["devices"].values()} == {600.0}
    assert all(i["status"] == "imported" and i["quarantined"] == 0 for i in out["imports"])

    batches = receiver.batches("sim-history-history")
    assert [b["seq"] for b in batches] == list(range(1, out["batches"] + 1))
    lo, hi = iso_ts(out["replay"]["from"]), iso_ts(out["replay"]["to"])
    for b in batches:
        assert b["_replayed"] == 1
        assert b["replay"] == out["replay"]
        assert b["clock"] == {"synced": True, "source": "replay"}
        assert b["enterprise"] == "ent-small" and b["boot"] == 1
        assert lo <= iso_ts(b["created"]) <= hi + 3600, b["created"]
        # no indicator in a batch is for a window that had not closed when the batch was made
        for rec in b["records"]:
            if rec["type"] == "indicator" and rec["window"]["len"] == 3600:
                assert rec["window"]["start"] + 3600 <= iso_ts(b["created"])
    created = [iso_ts(b["created"]) for b in batches]
    assert created == sorted(created)
    names = {r["name"] for b in batches for r in b["records"]}
    assert {"energy.kwh", "machine.cycles", "vision.units_out", "collateral.weight_kg", "mes.good_qty",
            "erp.shipped_qty", "data.coverage_pct", "consent.change"} <= names
    with receiver.rdb.read() as conn:
        flags = conn.execute("SELECT DISTINCT replayed FROM records WHERE gateway_id = ?",
                             ("sim-history-history",)).fetchall()
    assert flags == [(1,)]
    # The replay identity signs head statements like a live gateway (its bodies declare heads_from),
    # the last one after the final delivery, naming the whole chain.
    with receiver.rdb.read() as conn:
        heads = conn.execute("SELECT max(seq), count(*) FROM head_statements WHERE gateway_id = ?",
                             ("sim-history-history",)).fetchone()
    assert heads[0] == out["batches"] and heads[1] >= 1
    assert {b["heads_from"] for b in batches} == {1}
    # Raw readings are dropped a day behind the computed windows: a long history stays small on disk.
    st = Store(state / "edgeproof.db")
    try:
        lo_ts, n = st.db.execute("SELECT MIN(ts), COUNT(*) FROM readings").fetchone()
    finally:
        st.close()
    assert iso_ts(out["replay"]["to"]) - 86400 <= lo_ts and 0 < n < out["readings"] / 2


def test_an_outage_in_the_data_is_a_restart_with_no_batches_made_during_it(receiver, tmp_path) -> None:
    data = tmp_path / "data"
    write_scenario(ScenarioConfig(scenario="offline", days=5, seed=3, interval_s=600, onset_day=2, offline_days=2),
                   data)
    meta = json.loads((data / "scenario.json").read_text())
    state = tmp_path / "history"
    replay_identity(receiver, state, "ent-outage", "outage-history")
    out = run_replay(receiver, state, data)
    assert out["restarts"] == 1
    (gap,) = out["offline"]
    assert iso_ts(gap["from"]) == meta["offline"]["from"] - 600  # the last row before the outage
    assert iso_ts(gap["to"]) == meta["offline"]["to"]
    batches = receiver.batches("outage-history")
    # (the windows closed by the last row are packed a grace of 5 s after it, as live)
    inside = [b for b in batches if iso_ts(gap["from"]) + 5 < iso_ts(b["created"]) < iso_ts(gap["to"])]
    assert inside == []
    assert {b["boot"] for b in batches} == {1, 2}
    # The silent windows were computed after the restart and say so: no polls, no coverage.
    cov = [r for b in batches for r in b["records"] if r["name"] == "data.coverage_pct"
           and meta["offline"]["from"] <= r["window"]["start"] < meta["offline"]["to"]]
    assert len(cov) == 2 * 24 * 8 and {r["value"] for r in cov} == {0.0}
    assert all(b["boot"] == 2 for b in batches for r in b["records"] if r in cov)


def _split(src: Path, cut: float, a: Path, b: Path) -> None:
    """Two consecutive pieces of one history; both carry the full exports (re-reading them is a no-op)."""
    for p in src.glob("*.csv"):
        lines = p.read_text().splitlines()
        a.mkdir(exist_ok=True)
        b.mkdir(exist_ok=True)
        first = [ln for ln in lines[1:] if parse_timestamp(ln.split(",")[0]) < cut]
        second = [ln for ln in lines[1:] if parse_timestamp(ln.split(",")[0]) >= cut]
        (a / p.name).write_text("\n".join([lines[0], *first]) + "\n")
        (b / p.name).write_text("\n".join([lines[0], *second]) + "\n")
    for d in (a, b):
        shutil.copytree(src / "exports", d / "exports")


def test_later_history_continues_the_chain_and_overlapping_history_is_refused(receiver, small, tmp_path) -> None:
    cut = datetime(2026, 9, 8, 12, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    first, second = tmp_path / "first", tmp_path / "second"
    _split(small, cut, first, second)
    state = tmp_path / "history"
    replay_identity(receiver, state, "ent-split", "split-history")
    one = run_replay(receiver, state, first)
    two = run_replay(receiver, state, second)
    assert one["batches"] > 0 and two["batches"] > 0 and two["accepted"] == two["batches"]
    assert two["windows"] > 0 and one["windows"] + two["windows"] == 72
    batches = receiver.batches("split-history")
    assert [b["seq"] for b in batches] == list(range(1, one["batches"] + two["batches"] + 1))
    assert batches[-1]["replay"]["data_sha256"] == data_sha256(second) != data_sha256(first)
    # Earlier history into the same identity would be windows it has already closed: refused, nothing changed.
    before = (receiver.batches("split-history"), (state / "edgeproof.db").stat().st_size)
    proc = edgeproof("replay", "--profile", "sim-history", "--data", str(first), "--state", str(state),
                     "--receiver", receiver.url, check=False)
    assert proc.returncode == 1
    assert "already replayed history up to" in proc.stderr and "new replay identity" in proc.stderr
    assert (receiver.batches("split-history"), (state / "edgeproof.db").stat().st_size) == before


def test_replay_refuses_the_live_state_an_unenrolled_identity_and_a_live_store(receiver, small, tmp_path) -> None:
    live = tmp_path / "live"
    edgeproof("init", "--profile", "sim-history", "--state", str(live), "--gateway-id", "gw-live")
    args = ("replay", "--profile", "sim-history", "--data", str(small), "--receiver", receiver.url)
    proc = edgeproof(*args, "--state", str(live), env={"EDGEPROOF_STATE": str(live)}, check=False)
    assert proc.returncode == 1 and "is the live gateway's state" in proc.stderr
    proc = edgeproof(*args, "--state", str(tmp_path / "nothing"), check=False)
    assert proc.returncode == 1 and "edgeproof init --state" in proc.stderr
    old = tmp_path / "2024"
    old.mkdir()
    (old / "press-1-meter.csv").write_text("timestamp,import_kwh\n2024-06-03T08:00:00+08:00,1\n")
    proc = edgeproof("replay", "--profile", "sim-history", "--data", str(old), "--receiver", "none", "--state",
                     str(live), check=False)
    assert proc.returncode == 1 and "before 2025-01-01T00:00:00Z" in proc.stderr and "sign nothing" in proc.stderr
    proc = edgeproof(*args, "--state", str(live), check=False)
    assert proc.returncode == 1 and "is not enrolled" in proc.stderr
    # A store that already holds a live gateway's batches is never replayed into.
    edgeproof("enroll", "--state", str(live), "--token", receiver.token("ent-live"), "--receiver", receiver.url)
    st = Store(live / "edgeproof.db")
    st.append_batch(1, "0" * 64, b"{}", b"sig", "kid", [], ["energy"], 0, {})
    st.close()
    proc = edgeproof(*args, "--state", str(live), check=False)
    assert proc.returncode == 1 and "holds batches of a live gateway" in proc.stderr
    assert receiver.batches("gw-live") == []


def test_without_a_receiver_batches_wait_in_the_outbox(small, tmp_path) -> None:
    receiver = start_receiver(tmp_path / "r")
    try:
        state = tmp_path / "history"
        replay_identity(receiver, state, "ent-offline-uplink", "outbox-history")
    finally:
        receiver.stop()
    out = run_replay(None, state, small, "--speed", "max")
    assert out["accepted"] == 0 and out["batches"] > 0 and out["destination"] is None
    st = Store(state / "edgeproof.db")
    try:
        assert st.outbox_head() == out["batches"]
    finally:
        st.close()



def test_an_unreachable_receiver_leaves_batches_in_the_outbox_and_the_same_command_sends_them(
        receiver, small, tmp_path) -> None:
    state = tmp_path / "history"
    replay_identity(receiver, state, "ent-retry", "retry-history")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(ReplayError, match=r"replayed batches wait in the outbox.*run the same command again"):
        asyncio.run(replay(load_profile("sim-history"), small, state, dead, retry_delays_s=(0.01,)))
    st = Store(state / "edgeproof.db")
    waiting = st.outbox_head()
    st.close()
    assert waiting > 0 and receiver.batches("retry-history") == []
    out = run_replay(receiver, state, small)  # the same data again: nothing recomputed, the outbox sent
    assert out["resent_only"] is True and out["readings"] == 0 and out["windows"] == 0
    assert out["accepted"] == out["batches"] == waiting
    assert [b["seq"] for b in receiver.batches("retry-history")] == list(range(1, waiting + 1))
    again = run_replay(receiver, state, small)
    assert again["accepted"] == again["batches"] == 0


def test_a_rejection_stops_the_replay_with_the_receivers_reason(receiver, small, tmp_path) -> None:
    state = tmp_path / "history"
    replay_identity(receiver, state, "ent-revoked", "revoked-history")
    revoke_key(receiver.rdb, json.loads((state / "identity.json").read_text())["kid"])
    proc = edgeproof("replay", "--profile", "sim-history", "--data", str(small), "--state", str(state),
                     "--receiver", receiver.url, check=False)
    assert proc.returncode == 1
    assert "the receiver rejected the replay" in proc.stderr and "revoked_key" in proc.stderr
    assert receiver.batches("revoked-history") == []


def test_speed_paces_simulated_time_against_real_time(receiver, tmp_path) -> None:
    data = tmp_path / "data"
    write_scenario(ScenarioConfig(scenario="honest", days=1, seed=2, interval_s=1800), data)
    state = tmp_path / "history"
    replay_identity(receiver, state, "ent-paced", "paced-history")
    out = run_replay(receiver, state, data, "--speed", "43200")  # half a day per second: >= 2 s for one day
    assert out["elapsed_s"] >= 0.9 * out["days"] * 86400 / 43200
    proc = edgeproof("replay", "--profile", "sim-history", "--data", str(data), "--state", str(state),
                     "--speed", "fast", check=False)
    assert proc.returncode == 2 and "--speed" in proc.stderr


def _indicators(batches: list[dict]) -> list[tuple]:
    return sorted((r["name"], r.get("subject") or "", r["window"]["start"], r["window"]["len"], r["value"],
                   tuple(r.get("q") or ())) for b in batches for r in b["records"] if r["type"] == "indicator")


def test_a_replay_killed_part_way_resumes_where_it_stopped_and_loses_or_repeats_nothing(
        receiver, small, tmp_path) -> None:
    # The reference: the same data replayed without interruption into another identity.
    ref_state, state = tmp_path / "reference", tmp_path / "history"
    replay_identity(receiver, ref_state, "ent-uninterrupted", "uninterrupted-history")
    replay_identity(receiver, state, "ent-killed", "killed-history")
    ref = run_replay(receiver, ref_state, small, "--pack-every", "1h")

    # A power cut part-way: paced so that three days take ~20 s, killed -9 once a few dozen
    # batches have been accepted (and with more signed, or rows stored, beyond them). It takes
    # the reference's token key (--privacy-key), so product and customer tokens match it.
    cmd = [sys.executable, "-m", "gateway.cli", "replay", "--profile", "sim-history", "--data", str(small),
           "--state", str(state), "--receiver", receiver.url, "--pack-every", "1h", "--speed", "13000",
           "--privacy-key", str(ref_state / "privacy.key")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(receiver.batches("killed-history")) < 40 and time.monotonic() < deadline:
            assert proc.poll() is None, "the replay ended before it could be killed"
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
    before = receiver.batches("killed-history")
    assert 40 <= len(before) < ref["batches"]

    out = run_replay(receiver, state, small, "--pack-every", "1h")  # the same command again
    assert out["resumed_from"] is not None and out["resent_only"] is False
    assert ref["replay"]["from"] < out["resumed_from"] < ref["replay"]["to"]
    assert out["restarts"] == 1 and out["readings"] < ref["readings"]
    batches = receiver.batches("killed-history")
    # One unbroken chain, every batch accepted once; the resumed part says it is a later run.
    assert [b["seq"] for b in batches] == list(range(1, len(batches) + 1))
    assert [b["boot"] for b in batches] == sorted(b["boot"] for b in batches) and {b["boot"] for b in batches} == {1, 2}
    assert all(b["replay"] == ref["replay"] for b in batches)
    # Nothing lost, nothing twice: exactly the indicators of the uninterrupted replay.
    assert _indicators(batches) == _indicators(receiver.batches("uninterrupted-history"))
    # And once complete, the same command only sends what waits (nothing).
    again = run_replay(receiver, state, small, "--pack-every", "1h")
    assert again["resent_only"] is True and again["batches"] == 0


def test_a_replay_stopped_after_storing_its_last_row_closes_the_last_windows_on_resume(
        receiver, small, tmp_path) -> None:
    """The edge of the resume rule: every row was committed, nothing computed yet (a stop
    between the last ingest and its compute). Resuming must still close the last windows."""
    from gateway.replay.driver import LAST_KEY, Replayer
    from gateway.replay.session import check_data, open_state, profile_points

    ref_state, state = tmp_path / "reference", tmp_path / "history"
    replay_identity(receiver, ref_state, "ent-edge-ref", "edge-ref-history")
    replay_identity(receiver, state, "ent-edge", "edge-history")
    ref = run_replay(receiver, ref_state, small, "--pack-every", "1h")
    shutil.copy(ref_state / "privacy.key", state / "privacy.key")

    prof = load_profile("sim-history")
    points = asyncio.run(profile_points(prof, state))
    data = check_data(prof, small, points, None)
    store, identity, mode = open_state(prof, state, data)
    try:
        assert mode == "new"
        r = Replayer(prof, data, points, store, identity, state, None)
        store.meta_set(LAST_KEY, json.dumps({**data.replay_object(), "completed": False}))  # as run() does first
        r.engine.prime(data.start)
        store.bump("boot")
        r.ingest_until(data.end, inclusive=True)  # ... and the power goes
    finally:
        store.close()

    out = run_replay(receiver, state, small, "--pack-every", "1h")
    assert out["resumed_from"] == ref["replay"]["to"] and out["readings"] == 0
    batches = receiver.batches("edge-history")
    assert [b["seq"] for b in batches] == list(range(1, len(batches) + 1))
    assert _indicators(batches) == _indicators(receiver.batches("edge-ref-history"))


def test_privacy_key_gives_the_live_tokens_and_refuses_to_change_a_states_key(receiver, small, tmp_path) -> None:
    live, state = tmp_path / "live", tmp_path / "history"
    replay_identity(receiver, live, "ent-tok-live", "tok-live-history")
    replay_identity(receiver, state, "ent-tok", "tok-history")
    run_replay(receiver, live, small)  # stands in for the live gateway: it made its privacy.key
    out = run_replay(receiver, state, small, "--privacy-key", str(live / "privacy.key"))
    assert out["batches"] == out["accepted"] > 0
    assert (state / "privacy.key").read_bytes() == (live / "privacy.key").read_bytes()
    assert (state / "privacy.key").stat().st_mode & 0o777 == 0o600

    def tokens(gw: str) -> set[str]:  # mes.produced_qty is per product token: subject product:p_<hex>
        return {r["subject"] for b in receiver.batches(gw) for r in b["records"]
                if str(r.get("subject", "")).startswith("product:")}

    assert tokens("tok-history") and tokens("tok-history") == tokens("tok-live-history")
    # Another key into a state whose tokens are already in its chain: refused, nothing sent.
    other = tmp_path / "other.key"
    other.write_bytes(os.urandom(32))
    other.chmod(0o600)
    sent = len(receiver.batches("tok-history"))
    proc = edgeproof("replay", "--profile", "sim-history", "--data", str(small), "--state", str(state),
                     "--receiver", receiver.url, "--privacy-key", str(other), check=False)
    assert proc.returncode == 1 and "already holds another token key" in proc.stderr
    other.chmod(0o644)  # and a key others can read is not adopted at all
    proc = edgeproof("replay", "--profile", "sim-history", "--data", str(small), "--state", str(tmp_path / "new"),
                     "--receiver", receiver.url, "--privacy-key", str(other), check=False)
    assert proc.returncode == 1 and "readable by others" in proc.stderr
    assert len(receiver.batches("tok-history")) == sent
