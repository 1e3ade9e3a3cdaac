"""Group commit (issue 14): several batches verified off the network thread and stored in one
transaction, each with the verdict it would get alone; MQTT acknowledged only after the commit.

Real parts only: SQLite and a throwaway PostgreSQL (tests/support/postgres.py), a real mosquitto
(tests/cloud/conftest.py), real signed batches (FakeGateway), and in the crash test a receiver
process killed with SIGKILL between a group's commit and its acknowledgements, then a real
``cloud serve`` restarted on the same MQTT session.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cloud_helpers import PREFIX, FakeGateway, flip_body_byte, indicator, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_stub import receiver_key
from cloud_stub.banks import add_bank
from cloud_stub.db import ReceiverDB, Store, open_db
from cloud_stub.enrollment import enroll, issue_token
from cloud_stub.feed_verify import verify_feed
from cloud_stub.ingest import ingest, ingest_group
from cloud_stub.mqtt_ingest import MqttIngest
from gateway import wire
from tests.support.postgres import ThrowawayPostgres, postgres_server  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh receiver database: a SQLite file or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "receiver.db")
    pytest.importorskip("psycopg")
    server: ThrowawayPostgres = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def db(target: str) -> Iterator[Store]:
    rdb = open_db(target)
    yield rdb
    rdb.close()


def _enrolled(rdb: Store, name: str, ent: str = "ent-1") -> FakeGateway:
    gw = FakeGateway(name, ent)
    token = issue_token(rdb, ent)["token"]
    req = gw.enroll_request(token)
    enroll(rdb, token, gw.gateway_id, req["public_key"], req["proof"])
    return gw


def _findings(rdb: Store) -> list[tuple[str, str]]:
    with rdb.read() as conn:
        return [(k, g) for k, g in conn.execute("SELECT kind, gateway_id FROM findings ORDER BY id").fetchall()]


def test_a_group_gives_each_batch_its_own_verdict(db: Store) -> None:
    """A forged batch, a duplicate, an equivocation, a gap and a batch the database refuses, in
    the middle of one group: their neighbours are stored, the chain order holds, and the
    rejections' findings are kept."""
    a, b, c = (_enrolled(db, f"gw-{x}", f"ent-{x}") for x in "abc")
    a1, b1 = a.next(), b.next()
    forged = flip_body_byte(b.make())  # b's seq 2 with one byte changed: no enrolled key vouches for it
    a2 = a.next()
    b_other = b.make(seq=1, prev=wire.GENESIS_PREV, records=[indicator(9)])  # same seq, other bytes
    c_gap = c.make(seq=3)  # c has sent nothing: seq 1 is expected
    # window.start beyond a 64-bit integer: verified (the signature holds) but no store can hold it
    b2_bad = b.make(records=[{**indicator(1), "window": {"start": 2**70, "len": 900}}])
    c1 = c.next()
    a3 = a.next()
    items = [(e, "mqtt", gid) for e, gid in [
        (a1.envelope(), "gw-a"), (b1.envelope(), "gw-b"), (forged, "gw-b"), (a2.envelope(), "gw-a"),
        (a2.envelope(), "gw-a"), (b_other.envelope(), "gw-b"), (c_gap.envelope(), "gw-c"),
        (b2_bad.envelope(), "gw-b"), (c1.envelope(), "gw-c"), (a3.envelope(), "gw-a")]]
    got = [(r.status, r.code, r.seq) for r in ingest_group(db, items)]
    assert got == [
        ("accepted", None, 1), ("accepted", None, 1), ("rejected", "bad_signature", 2), ("accepted", None, 2),
        ("duplicate", None, 2), ("rejected", "equivocation", 1), ("rejected", "out_of_order", 3),
        ("error", "internal", 2), ("accepted", None, 1), ("accepted", None, 3),
    ]
    with db.read() as conn:
        stored = conn.execute("SELECT gateway_id, seq, hash FROM batches ORDER BY id").fetchall()
        heads = dict((g, (s, h)) for g, s, h in conn.execute("SELECT id, last_seq, last_hash FROM gateways"))
        n_records = conn.execute("SELECT count(*) FROM records").fetchone()[0]
    assert [(g, s) for g, s, _ in stored] == [("gw-a", 1), ("gw-b", 1), ("gw-a", 2), ("gw-c", 1), ("gw-a", 3)]
    assert heads == {"gw-a": (3, a3.hash), "gw-b": (1, b1.hash), "gw-c": (1, c1.hash)}
    assert n_records == 5
    assert ("equivocation", "gw-b") in _findings(db) and ("gap_observed", "gw-c") in _findings(db)
    # the refused batch was not the gateway's fault of chain: resent later it is judged afresh
    assert ingest_group(db, [(b.next().envelope(), "mqtt", "gw-b")])[0].status == "accepted"


def test_a_group_of_one_gateways_chain_in_order(db: Store) -> None:
    """A gateway's batches in one group extend its chain in the order they came."""
    g = _enrolled(db, "gw-1")
    batches = [g.next(records=[indicator(i), indicator(i + 100)]) for i in range(30)]
    results = ingest_group(db, [(b.envelope(), "http", None) for b in batches])
    assert [r.status for r in results] == ["accepted"] * 30
    again = ingest_group(db, [(b.envelope(), "http", None) for b in batches[::7]])
    assert [r.status for r in again] == ["duplicate"] * 5


# -- over MQTT ---------------------------------------------------------------------------------------

class AckCollector:
    """Every gateway's acks on ``PREFIX/+/ack``, and a publisher for their batches."""

    def __init__(self, host: str, port: int) -> None:
        self.acks: queue.Queue[dict[str, Any]] = queue.Queue()
        self.subscribed = False
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-acks-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, *_: c.subscribe(f"{PREFIX}/+/ack", qos=1)
        self.client.on_subscribe = lambda *_: setattr(self, "subscribed", True)
        self.client.on_message = lambda _c, _u, msg: self.acks.put(json.loads(msg.payload))
        self.client.max_inflight_messages_set(1000)
        self.client.connect(host, port)
        self.client.loop_start()
        wait_for(lambda: self.subscribed)

    def publish(self, gateway_id: str, envelope: bytes) -> None:
        self.client.publish(f"{PREFIX}/{gateway_id}/batch", envelope, qos=1).wait_for_publish(5)

    def take(self, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        out, deadline = [], time.monotonic() + timeout
        while len(out) < n:
            out.append(self.acks.get(timeout=max(0.01, deadline - time.monotonic())))
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_mqtt_groups_acknowledge_after_the_commit(tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    """Batches of several gateways that arrive together are stored in one transaction; the forged one
    among them is refused alone, and every other gets its ack."""
    rdb = ReceiverDB(tmp_path / "receiver.db")
    gws = [_enrolled(rdb, f"gw-g{i}", f"ent-{i}") for i in range(3)]
    ing = MqttIngest(rdb, *mosquitto, prefix=PREFIX, group_wait_s=0.5, group_max=64,
                     share_group=f"g-{uuid.uuid4().hex[:8]}")
    pub = None
    try:
        ing.start()
        wait_for(lambda: ing.connected)
        time.sleep(0.2)  # the SUBACK lands before anyone publishes
        pub = AckCollector(*mosquitto)
        sent = []
        for _ in range(4):
            for g in gws:
                b = g.next()
                sent.append((g.gateway_id, b.envelope(), b.hash))
        forged = flip_body_byte(gws[1].make())
        sent.insert(6, (gws[1].gateway_id, forged, None))
        for gid, env, _ in sent:
            pub.publish(gid, env)
        acks = pub.take(len(sent))
    finally:
        if pub is not None:
            pub.close()
        ing.stop()
    by = Counter((a["status"], a.get("code")) for a in acks)
    assert by == {("accepted", None): 12, ("rejected", "bad_signature"): 1}, acks
    assert {a["hash"] for a in acks if a["status"] == "accepted"} == {h for _, _, h in sent if h}
    assert max(ing.group_sizes) > 1, ing.group_sizes  # they were committed together, not one by one
    with rdb.read() as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT hash) FROM batches").fetchone() == (12, 12)
    rdb.close()


HARNESS = textwrap.dedent('''
    """A receiver's MQTT ingest that kills itself (SIGKILL) right after its second group's commit,
    before any of that group's acknowledgements leave: the worst moment for a crash."""
    import json, os, signal, sys, time
    from cloud_stub.db import open_db
    from cloud_stub.mqtt_ingest import MqttIngest

    target, host, port, prefix, group, client_id, ready = sys.argv[1:8]
    commits = []

    def on_committed(results):
        commits.append(len(results))
        if len(commits) == 2:
            with open(ready + ".committed", "w") as f:
                json.dump([r.hash for r in results], f)
            # the first group's acks and PUBACKs have left (paho's outgoing queue is empty), so the
            # crash falls exactly between this group's commit and its acks
            deadline = time.monotonic() + 10
            while ing.client._out_packet and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGKILL)

    rdb = open_db(target)
    ing = MqttIngest(rdb, host, int(port), prefix, client_id=client_id, share_group=group, persistent=True,
                     group_max=5, group_wait_s=0.3, on_committed=on_committed)
    ing.start()
    while not ing.connected:
        time.sleep(0.02)
    time.sleep(0.2)
    open(ready, "w").close()
    time.sleep(120)
''')


def test_kill_between_commit_and_ack_loses_and_doubles_nothing(target: str, tmp_path: Path,
                                                              mosquitto: tuple[str, int]) -> None:
    key = tmp_path / "receiver.key"
    receiver_key.load_or_create(key)
    rdb = open_db(target)
    gws = [_enrolled(rdb, f"gw-k{i}", "ent-kill") for i in range(4)]
    rdb.close()
    group, client_id = f"g-{uuid.uuid4().hex[:8]}", f"receiver-{uuid.uuid4().hex[:8]}"
    harness, ready = tmp_path / "harness.py", tmp_path / "harness.ready"
    harness.write_text(HARNESS)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(harness), target, *map(str, mosquitto), PREFIX, group, client_id,
                             str(ready)], cwd=REPO, env=env, stderr=subprocess.PIPE)
    pub = serve = None
    try:
        wait_for(lambda: ready.exists() or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        pub = AckCollector(*mosquitto)
        sent: dict[str, tuple[str, int]] = {}
        for _ in range(6):  # each gateway's six batches pipelined: chain order must hold through the crash
            for g in gws:
                b = g.next(records=[indicator(g.seq), indicator(g.seq + 50)])
                sent[b.hash] = (g.gateway_id, g.seq)
                pub.publish(g.gateway_id, b.envelope())
        assert proc.wait(timeout=30) == -9  # killed itself after its second commit
        in_killed_group = json.loads(Path(f"{ready}.committed").read_text())
        assert in_killed_group
        early = []
        while not pub.acks.empty():
            early.append(pub.acks.get())
        assert not {a["hash"] for a in early} & set(in_killed_group)  # committed, never answered
        # the same receiver comes back (same client id: its session, with the unacknowledged messages)
        ready2 = tmp_path / "serve.ready"
        log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
        serve = (subprocess.Popen([sys.executable, "-m", "cloud_stub", "serve", "--db", target, "--key", str(key),
                                   "--port", "0", "--ready-file", str(ready2),
                                   "--mqtt", f"{mosquitto[0]}:{mosquitto[1]}", "--mqtt-topic-prefix", PREFIX,
                                   "--mqtt-share-group", group, "--mqtt-client-id", client_id,
                                   "--fleet-check-every", "0"],
                                  cwd=REPO, env=env, stderr=log), log)
        acks, deadline = list(early), time.monotonic() + 60
        while not set(sent) <= {a["hash"] for a in acks}:  # a batch may be answered twice: count batches
            acks += pub.take(1, timeout=max(0.01, deadline - time.monotonic()))
        while not pub.acks.empty():
            acks.append(pub.acks.get())
        # Every batch answered, `accepted` at most once, never refused; the killed group's batches (committed,
        # never answered) come back as duplicates. A batch answered before the crash may be answered
        # `duplicate` once more: a PUBACK still in the dying socket's buffer can be lost with it (RST).
        by_hash: dict[str, list[str]] = {}
        for a in acks:
            by_hash.setdefault(a["hash"], []).append(a["status"])
        assert set(by_hash) == set(sent), by_hash
        assert all(v.count("accepted") <= 1 and set(v) <= {"accepted", "duplicate"} for v in by_hash.values()), by_hash
        assert all(by_hash[h] == ["duplicate"] for h in in_killed_group), {h: by_hash[h] for h in in_killed_group}
        # (a batch of the group before may be answered only `duplicate`: its `accepted` ack died with the socket)
        wait_for(lambda: ready2.exists(), timeout=30)
        url = json.loads(ready2.read_text())["url"]
        rdb = open_db(target)
        try:
            with rdb.read() as conn:
                n, distinct = conn.execute("SELECT count(*), count(DISTINCT (batch_hash || ':' || idx))"
                                           " FROM records").fetchone()
                nb = conn.execute("SELECT count(*) FROM batches").fetchone()[0]
            assert (nb, n, distinct) == (24, 48, 48)
            bank = add_bank(rdb, "bank-k", "ent-kill")["token"]
        finally:
            rdb.close()
        pin = wire.b64(bytes(receiver_key.load_or_create(key).verify_key))
        summary = verify_feed(url, "ent-kill", bank, pin)
        assert summary["failures"] == [] and (summary["batches"], summary["records"]) == (24, 48), summary
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if pub is not None:
            pub.close()
        if serve is not None:
            serve[0].terminate()
            serve[0].wait(timeout=30)
            serve[1].close()


# -- property: a group gives the verdicts of one-by-one ingest -------------------------------------

STEPS = st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["next", "resend", "forged", "equivocate", "gap"])),
                 min_size=1, max_size=24)


def _script(steps: list[tuple[int, str]], gws: list[FakeGateway]) -> list[tuple[bytes, str, str | None]]:
    """Envelopes for the steps: each gateway's next batch, a resend, a forged copy, another batch for a
    seq already sent (equivocation), or one that skips a seq (a gap)."""
    sent: dict[int, list[wire.SignedBatch]] = {i: [] for i in range(len(gws))}
    out = []
    for i, kind in steps:
        g = gws[i]
        if kind == "resend" and sent[i]:
            env = sent[i][-1].envelope()
        elif kind == "forged":
            env = flip_body_byte(g.make())
        elif kind == "equivocate" and sent[i]:
            env = g.make(seq=g.seq, prev=wire.batch_hash(sent[i][-2].body) if len(sent[i]) > 1 else wire.GENESIS_PREV,
                         records=[indicator(99)]).envelope()
        elif kind == "gap":
            env = g.make(seq=g.seq + 2).envelope()
        else:
            b = g.next()
            sent[i].append(b)
            env = b.envelope()
        out.append((env, "mqtt", g.gateway_id))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS, cuts=st.lists(st.integers(1, 24), max_size=6))
def test_groups_decide_as_one_by_one_ingest(tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[int, str]],
                                            cuts: list[int]) -> None:
    gws = [FakeGateway(f"gw-p{i}", f"ent-p{i % 2}") for i in range(3)]
    items = _script(steps, gws)
    dbs = [ReceiverDB(tmp_path_factory.mktemp("prop") / "receiver.db") for _ in range(2)]
    try:
        for rdb in dbs:
            for g in gws:
                token = issue_token(rdb, g.enterprise)["token"]
                req = g.enroll_request(token)
                enroll(rdb, token, g.gateway_id, req["public_key"], req["proof"])
        alone = [ingest(dbs[0], d, t, e) for d, t, e in items]
        bounds = sorted({0, len(items), *(c for c in cuts if c < len(items))})
        grouped = [r for a, b in zip(bounds, bounds[1:], strict=False) for r in ingest_group(dbs[1], items[a:b])]
        assert [(r.status, r.code, r.seq, r.hash) for r in grouped] == [(r.status, r.code, r.seq, r.hash)
                                                                           for r in alone]
        stored = []
        for rdb in dbs:
            with rdb.read() as conn:
                stored.append((conn.execute("SELECT hash, gateway_id, seq FROM batches ORDER BY id").fetchall(),
                               conn.execute("SELECT batch_hash, idx FROM records ORDER BY id").fetchall(),
                               conn.execute("SELECT id, last_seq, last_hash FROM gateways ORDER BY id").fetchall(),
                               conn.execute("SELECT kind, gateway_id, detail FROM findings ORDER BY id").fetchall()))
        assert stored[0] == stored[1]
    finally:
        for rdb in dbs:
            rdb.close()


def test_a_stalled_database_stops_the_broker_not_memory(tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    """While the database does not answer (its write lock held here), the receiver takes no more
    than its queues hold; the rest waits at the broker (unacknowledged messages count against the
    broker's inflight limit), and everything is stored and answered once the database is back."""
    rdb = ReceiverDB(tmp_path / "receiver.db")
    gws = [_enrolled(rdb, f"gw-s{i}", f"ent-s{i}") for i in range(4)]
    ing = MqttIngest(rdb, *mosquitto, prefix=PREFIX, group_max=2, group_wait_s=0.0, queue_max=4,
                     share_group=f"g-{uuid.uuid4().hex[:8]}")
    pub = None
    try:
        ing.start()
        wait_for(lambda: ing.connected)
        time.sleep(0.2)
        pub = AckCollector(*mosquitto)
        with rdb.lock:  # the database stalls: no group can commit
            for _ in range(10):
                for g in gws:
                    pub.publish(g.gateway_id, g.next().envelope())
            # it stops taking once the inbox (4) and the verified groups (2) are full: at most 4 in the inbox,
            # two verified groups, one being verified and one waiting to commit (each at most group_max = 2)
            wait_for(lambda: ing.inbox.full() and ing.verified.full(), timeout=10)
            held = ing.taken
            time.sleep(0.5)
            assert ing.taken == held <= 4 + 2 * 2 + 2 + 2 and pub.acks.empty(), held
        acks = pub.take(40)
    finally:
        if pub is not None:
            pub.close()
        ing.stop()
    assert Counter(a["status"] for a in acks) == {"accepted": 40}
    with rdb.read() as conn:
        assert conn.execute("SELECT count(*) FROM batches").fetchone()[0] == 40
    rdb.close()
