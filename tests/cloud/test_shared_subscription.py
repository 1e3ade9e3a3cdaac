"""Several receivers on one PostgreSQL database share MQTT ingest through a shared subscription.

Real parts only: mosquitto (tests/cloud/conftest.py), a throwaway PostgreSQL server
(tests/support/postgres.py), real signed batches (FakeGateway) and, in the second test,
two real ``cloud serve`` processes. The gateway keeps one batch in flight, as the real MQTT
uplink does: it publishes, waits for the ack, then publishes the next.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_helpers import FakeGateway, GatewayMqtt, http, indicator, wait_for

from cloud_stub import receiver_key
from cloud_stub.enrollment import enroll, issue_token
from cloud_stub.mqtt_ingest import MqttIngest, check_share_group
from gateway import wire
from tests.support.postgres import ThrowawayPostgres, postgres_server  # noqa: F401

psycopg = pytest.importorskip("psycopg")

from cloud_stub.db_postgres import PostgresDB  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PREFIX = "edgeproof/v1"  # GatewayMqtt's topic prefix; the ack topic contract is unchanged


@pytest.fixture
def pg_url(postgres_server: ThrowawayPostgres) -> str:  # noqa: F811
    return postgres_server.create_database()


def send_in_turn(pub: GatewayMqtt, gw: FakeGateway, n: int) -> list[dict]:
    """Publish ``n`` chained batches, each after the previous one's ack; returns the acks."""
    acks = []
    for i in range(n):
        batch = gw.next(records=[indicator(gw.seq * 2 + j) for j in range(2)])
        pub.publish(batch.envelope())
        ack = pub.ack()
        assert (ack["status"], ack["seq"], ack["hash"]) == ("accepted", i + 1, batch.hash), ack
        acks.append(ack)
    return acks


def assert_chain_intact(rdb: PostgresDB, gateway_id: str, n: int) -> None:
    """Every seq once, each body's prev = the previous batch's hash, the head at the last one."""
    with rdb.read() as conn:
        rows = conn.execute("SELECT seq, hash, body FROM batches WHERE gateway_id = ? ORDER BY seq",
                            (gateway_id,)).fetchall()
        head = conn.execute("SELECT last_seq, last_hash FROM gateways WHERE id = ?", (gateway_id,)).fetchone()
        n_records = conn.execute("SELECT count(*) FROM records WHERE gateway_id = ?", (gateway_id,)).fetchone()[0]
    assert [r[0] for r in rows] == list(range(1, n + 1))
    prev = wire.GENESIS_PREV
    for _, h, body in rows:
        assert wire.decode_body(body)["prev"] == prev
        prev = h
    assert head == (n, prev) and n_records == 2 * n


def test_share_group_names_are_one_topic_level() -> None:
    assert check_share_group("receivers-eu") == "receivers-eu"
    for bad in ("", "a/b", "a+", "#", " a"):
        with pytest.raises(ValueError, match="share group"):
            check_share_group(bad)


def test_two_receivers_split_the_batches_and_accept_each_once(mosquitto, pg_url: str) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    dbs = [PostgresDB(pg_url), PostgresDB(pg_url)]  # two connections, as two receiver processes
    gw = FakeGateway(f"gw-{uuid.uuid4().hex[:8]}", "ent-1")
    token = issue_token(dbs[0], "ent-1")["token"]
    req = gw.enroll_request(token)
    enroll(dbs[0], token, gw.gateway_id, req["public_key"], req["proof"])
    ingests = [MqttIngest(db, *mosquitto, prefix=PREFIX, share_group=group) for db in dbs]
    pub = None
    try:
        for ing in ingests:
            assert ing.subscription == f"$share/{group}/{PREFIX}/+/batch"
            ing.start()
        wait_for(lambda: all(ing.connected for ing in ingests))
        time.sleep(0.2)  # let both SUBACKs land before anyone publishes
        pub = GatewayMqtt(*mosquitto, gw.gateway_id)
        n = 40
        send_in_turn(pub, gw, n)
        # a resend (the gateway did not see the ack) is a duplicate, whichever receiver gets it
        with dbs[0].read() as conn:
            body, sig, kid = conn.execute("SELECT body, sig, kid FROM batches WHERE seq = 7").fetchone()
        pub.publish(wire.SignedBatch(bytes(body), bytes(sig), kid).envelope())
        assert pub.ack()["status"] == "duplicate"
    finally:
        if pub is not None:
            pub.close()
        for ing in ingests:
            ing.stop()
    accepted = [ing.handled["accepted"] for ing in ingests]
    assert sum(accepted) == n and all(a > 0 for a in accepted), accepted  # split, none twice
    assert sum(ing.handled["duplicate"] for ing in ingests) == 1
    assert sum(ing.handled["rejected"] + ing.handled["error"] for ing in ingests) == 0
    assert_chain_intact(dbs[0], gw.gateway_id, n)
    for db in dbs:
        db.close()


def _cli(*args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "cloud_stub", *args], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


@pytest.fixture
def two_served(tmp_path: Path, mosquitto, pg_url: str) -> Iterator[list[tuple[str, Path]]]:
    """Two ``cloud serve`` processes on one PostgreSQL database, one key file, one share group."""
    key = tmp_path / "receiver.key"
    receiver_key.load_or_create(key)
    group = f"g-{uuid.uuid4().hex[:8]}"
    procs, out = [], []
    try:
        for i in range(2):
            ready, log_path = tmp_path / f"ready{i}.json", tmp_path / f"serve{i}.log"
            log = open(log_path, "wb")  # noqa: SIM115 - closed below
            proc = subprocess.Popen(
                [sys.executable, "-m", "cloud_stub", "serve", "--db", pg_url, "--key", str(key), "--port", "0",
                 "--ready-file", str(ready), "--mqtt", f"{mosquitto[0]}:{mosquitto[1]}",
                 "--mqtt-topic-prefix", PREFIX, "--mqtt-share-group", group],
                cwd=REPO, stderr=log)
            procs.append((proc, log))
            wait_for(lambda ready=ready, proc=proc: ready.exists() or proc.poll() is not None, timeout=20)
            assert proc.poll() is None, log_path.read_text()
            out.append((json.loads(ready.read_text())["url"], log_path))

        def subscribed(path: Path) -> bool:
            return any('"event": "mqtt_connect"' in line and group in line
                       for line in path.read_text().splitlines())

        wait_for(lambda: all(subscribed(p) for _, p in out), timeout=20)
        time.sleep(0.2)
        yield out
    finally:
        for proc, log in procs:
            proc.terminate()
            proc.wait(timeout=10)
            log.close()


def test_two_serve_processes_share_ingest_and_serve_one_feed(two_served, mosquitto, pg_url: str) -> None:
    (url_a, log_a), (url_b, log_b) = two_served
    gw = FakeGateway(f"gw-{uuid.uuid4().hex[:8]}", "ent-1")
    token = _cli("token", "--db", pg_url, "--enterprise", "ent-1")
    status, res = http("POST", f"{url_a}/v1/enroll", gw.enroll_request(token))
    assert status == 200, res
    pub = GatewayMqtt(*mosquitto, gw.gateway_id)
    try:
        send_in_turn(pub, gw, 20)
    finally:
        pub.close()

    def accepted(path: Path) -> int:
        return sum(1 for line in path.read_text().splitlines()
                   if '"event": "batch"' in line and '"status": "accepted"' in line and '"mqtt"' in line)

    wait_for(lambda: accepted(log_a) + accepted(log_b) == 20)  # log lines are written after the ack
    assert accepted(log_a) > 0 and accepted(log_b) > 0
    bank = _cli("bank", "add", "--db", pg_url, "--name", "bank-1", "--enterprise", "ent-1")
    for url in (url_a, url_b):  # either receiver serves the whole, verifiable feed
        res = subprocess.run([sys.executable, "-m", "cloud_stub", "feed", "verify", "--url", url, "--enterprise",
                              "ent-1", "--token", bank, "--json"], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
        summary = json.loads(res.stdout)
        assert (summary["records"], summary["verified"], summary["failed"], summary["batches"]) == (40, 40, 0, 20), \
            summary
    rdb = PostgresDB(pg_url)
    try:
        assert_chain_intact(rdb, gw.gateway_id, 20)
    finally:
        rdb.close()


def test_the_real_gateway_uplink_to_two_receivers(two_served, mosquitto, pg_url: str, tmp_path: Path) -> None:
    """The gateway's own MQTT uplink (emulated meter, indicator engine, signing, outbox) against the share group."""
    import msgspec

    from gateway.identity import enroll as gateway_enroll
    from gateway.identity import init_identity
    from gateway.profile import load_profile
    from gateway.store import Store
    from tests.e2e.conftest import PROFILE
    from tests.e2e.test_chain_http_mqtt import run_gateway

    (url_a, log_a), (url_b, log_b) = two_served
    state = tmp_path / "gw"
    init_identity(state, None, "t")
    gateway_enroll(state, url_a, _cli("token", "--db", pg_url, "--enterprise", "ent-test"))
    prof = load_profile(PROFILE)
    prof = msgspec.structs.replace(prof, uplink=msgspec.structs.replace(
        prof.uplink, transport="mqtt",
        mqtt=msgspec.structs.replace(prof.uplink.mqtt, host=mosquitto[0], port=mosquitto[1], topic_prefix=PREFIX)))
    gw = run_gateway(prof, state, 6)
    assert gw.sender.dest.startswith("mqtt:") and gw.sender.status.rejected == {}
    st = Store(gw.store.path)
    head, acked = st.outbox_head(), st.acked(gw.sender.dest)
    st.close()
    assert head >= 2 and acked == head  # every batch acknowledged back to the gateway

    def accepted(path: Path) -> int:
        return sum(1 for line in path.read_text().splitlines()
                   if '"event": "batch"' in line and '"status": "accepted"' in line)

    wait_for(lambda: accepted(log_a) + accepted(log_b) == head)
    assert accepted(log_a) > 0 and accepted(log_b) > 0, (accepted(log_a), accepted(log_b))
    bank = _cli("bank", "add", "--db", pg_url, "--name", "bank-1", "--enterprise", "ent-test")
    res = subprocess.run([sys.executable, "-m", "cloud_stub", "feed", "verify", "--url", url_b, "--enterprise",
                          "ent-test", "--token", bank, "--json"], cwd=REPO, capture_output=True, text=True, timeout=60)
    summary = json.loads(res.stdout)
    assert (summary["failed"], summary["batches"]) == (0, head) and summary["verified"] == summary["records"] > 0
