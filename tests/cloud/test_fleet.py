"""Fleet operations: the gateway's signed health summary, the fleet list, silence and health alarms.

A real gateway runtime (emulated meter, real store, batcher and HTTP uplink) against a real
receiver on loopback, and signed batches from the test gateway for the cases a healthy gateway
never produces (a malformed summary, a clock out of sync, a growing backlog). Time is injected
(``now=``) instead of waited for. PostgreSQL: test_fleet_postgres.py runs the same tests.
"""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cloud_helpers import FakeGateway, http, indicator, pin_of
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_stub import fleet
from cloud_stub.banks import add_bank
from cloud_stub.enrollment import issue_token
from cloud_stub.feed_chain import ChainCheck
from cloud_stub.feed_verify import verify_feed
from cloud_stub.fleet_alerts import check_fleet
from cloud_stub.operators import add_operator, revoke_operator
from gateway import wire
from gateway.identity import enroll, init_identity
from gateway.profile import load_profile
from gateway.runtime import Gateway
from gateway.wire import health as wire_health

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "one-meter.toml"


DEAD_METER = """
[[devices]]
name = "meter-2"
driver = "modbus_tcp"
model = "eastron-sdm630"
host = "127.0.0.1"
port = 5021
poll_interval_s = 0.2
timeout_s = 0.3
asset = "press-2"
sim = { dead = true }
"""


def summary(ts: float, *, unhealthy: int = 0, synced: bool = True, backlog: int = 0,
            errors: dict[str, int] | None = None) -> dict[str, Any]:
    """A well-formed summary as the gateway builds it (wire_health.health_record checks it)."""
    return wire_health.health_record(
        subject="gw-1", ts=ts, boot=3, version="0.1.0", uptime_s=120, clock={"synced": synced, "source": "kernel"},
        backlog={"batches": backlog, "records": backlog * 4, "pending_indicators": 0,
                 "oldest_unacked_s": 60 if backlog else None},
        devices={"total": 2, "healthy": 2 - unhealthy, "unhealthy": unhealthy, "starting": 0,
                 "errors": errors if errors is not None else ({"timeout": unhealthy} if unhealthy else {})},
        store={"days_left": 41.5, "size_mb": 12.0},
        consent={"last_change": None, "event": None})


def send(receiver, gw: FakeGateway, records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: ANN001
    status, out = receiver.post(gw.next(records=records).envelope())
    assert status == 200 and out["status"] == "accepted", out
    return out


def alerts_of(rdb) -> list[tuple[str, str]]:  # noqa: ANN001
    with rdb.read() as conn:
        return [(r[0], r[1]) for r in conn.execute("SELECT kind, level FROM alerts ORDER BY id").fetchall()]


# -- the real gateway ----------------------------------------------------------------------------


def test_a_running_gateway_signs_health_summaries_the_fleet_list_shows(receiver, tmp_path: Path) -> None:
    """The runtime's health loop (interval 0.5 s here) signs summaries into the chain; the receiver keeps
    the latest; the fleet list shows the gateway online with its version, devices and backlog; a bank
    granted only `energy` is shown the health batches (category `health` is always visible)."""
    state = tmp_path / "gw"
    init_identity(state, "gw-real", "t")
    enroll(state, receiver.url, issue_token(receiver.rdb, "ent-1")["token"])
    profile = tmp_path / "two-meters.toml"  # the test meter, and a second one that never answers
    profile.write_text(PROFILE.read_text() + DEAD_METER)
    prof = load_profile(profile)
    prof = msgspec.structs.replace(prof, uplink=msgspec.structs.replace(prof.uplink, health_interval_s=0.5))

    async def run() -> Gateway:
        gw = Gateway(prof, state, simulate=True)
        await gw.start()
        deadline = time.monotonic() + 20
        while not any(p.health.state == "unhealthy" for p in gw.scheduler.pollers):
            assert time.monotonic() < deadline, "the dead meter was never marked unhealthy"
            await asyncio.sleep(0.1)
        after = gw.health.sent + 2  # a summary begun after the dead meter was known unhealthy
        while gw.health.sent < max(after, 2) or gw.sender.backlog() > 0:
            assert time.monotonic() < deadline, "no health summary acknowledged"
            await asyncio.sleep(0.1)
        await gw.stop(drain_s=10)
        return gw

    gw = asyncio.run(run())
    (item,) = fleet.gateways(receiver.rdb, "ent-1")
    assert item["gateway_id"] == "gw-real" and item["state"] == "online"
    assert item["last_seq"] >= 2 and item["version"] == "0.1.0"
    h = item["health"]
    assert h["boot"] == 1 and h["clock"]["synced"] in (True, False)
    assert (h["devices"]["total"], h["devices"]["healthy"], h["devices"]["unhealthy"]) == (2, 1, 1), h["devices"]
    (kind,) = h["devices"]["errors"]  # the dead meter's real error kind, counted, never named
    assert h["devices"]["errors"][kind] == 1 and "meter-2" not in json.dumps(h)
    dev = next(a for a in check_fleet(receiver.rdb) if a["kind"] == "device_unhealthy")
    assert dev["detail"]["errors"] == {kind: 1}
    assert h["backlog"]["batches"] >= 0 and "days_left" in h["store"] and h["store"]["disk_free_mb"] > 0
    assert item["health_seq"] <= item["last_seq"]
    with receiver.rdb.read() as conn:
        n = conn.execute("SELECT COUNT(*) FROM records WHERE type = 'health'").fetchone()[0]
    assert n == gw.health.sent
    token = add_bank(receiver.rdb, "bank-energy", "ent-1", "energy")["token"]
    status, page = http("GET", f"{receiver.url}/v1/feed/ent-1/records?limit=1000", token=token)
    assert status == 200
    assert sum(1 for r in page["records"] if r["record"]["type"] == "health") == n
    assert not any("health" in s["categories"] for s in page["withheld"])
    # A bank verifies the health batches like any other (signature, chain, V19 on what is withheld).
    out = verify_feed(receiver.url, "ent-1", token, pin_of(receiver))
    assert out["failures"] == [], out["failures"]


# -- malformed summaries -------------------------------------------------------------------------


def test_a_malformed_summary_is_a_finding_and_loses_nothing(receiver, gw: FakeGateway) -> None:
    now = time.time()
    send(receiver, gw, [summary(now)])
    bad = summary(now + 300)
    bad["devices"]["healthy"] = "two"
    before = receiver.stored()
    out = send(receiver, gw, [indicator(0), bad])  # accepted: the chain goes on, the indicator is kept
    after = receiver.stored()
    assert len(after[1]) == len(before[1]) + 2
    with receiver.rdb.read() as conn:
        (kind, detail), = conn.execute("SELECT kind, detail FROM findings").fetchall()
    detail = json.loads(detail)
    assert kind == "health_malformed" and detail["seq"] == out["seq"] and detail["index"] == 1
    assert detail["key"] == "devices.healthy" and "integer" in detail["expected"]
    (item,) = fleet.gateways(receiver.rdb)
    assert item["health_seq"] == 1 and item["last_seq"] == 2  # the good summary stays the latest
    unknown = summary(now + 600)
    unknown["v"] = 2
    send(receiver, gw, [unknown])
    with receiver.rdb.read() as conn:
        keys = [json.loads(d)["key"] for (d,) in conn.execute("SELECT detail FROM findings ORDER BY id")]
    assert keys == ["devices.healthy", "v"]
    send(receiver, gw, [summary(now + 900)])
    assert fleet.gateways(receiver.rdb)[0]["health_seq"] == 4


@settings(max_examples=150, deadline=None, database=None)
@given(path=st.sampled_from(["v", "time", "boot", "version", "clock", "clock.synced", "backlog.batches",
                             "backlog.oldest_unacked_s", "devices.total", "devices.errors", "store.days_left",
                             "consent.last_change", "window", "firmware", "subject"]),
       value=st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                       st.text(max_size=10), st.lists(st.integers(), max_size=2),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
def test_check_health_accepts_or_names_the_key(path: str, value: Any) -> None:
    """Any value in any known key: the summary is accepted, or HealthError names a key and what was expected."""
    rec = copy.deepcopy(summary(1764201600.0))
    *parents, key = path.split(".")
    obj = rec
    for p in parents:
        obj = obj[p]
    obj[key] = value
    try:
        wire_health.check_health(rec)
    except wire_health.HealthError as exc:
        assert exc.path and exc.expected and exc.path.split(".")[0] in (path.split(".")[0], "devices")


def test_later_fields_are_accepted_and_kept() -> None:
    rec = summary(1764201600.0)
    rec["modem"] = {"rssi_dbm": -71}
    rec["some_future_key"] = [1, 2]
    assert wire_health.check_health(rec) is rec
    rec["first_boot"] = "ok"
    with pytest.raises(wire_health.HealthError, match="first_boot"):
        wire_health.check_health(rec)


# -- silence and health alarms -------------------------------------------------------------------


def test_silence_raises_an_alert_once_and_contact_raises_a_recovery(receiver, gw: FakeGateway) -> None:
    send(receiver, gw, [summary(time.time())])
    t = time.time()
    assert check_fleet(receiver.rdb, t + 10) == []
    assert fleet.gateways(receiver.rdb, now=t + 700)[0]["state"] == "late"
    assert check_fleet(receiver.rdb, t + 700) == []  # late is not yet an alarm
    (a,) = check_fleet(receiver.rdb, t + 1900)
    assert a["kind"] == "gateway_silent" and a["level"] == "orange" and a["detail"]["gateway_id"] == "gw-1"
    assert a["detail"]["silent_for_s"] >= 1800
    assert check_fleet(receiver.rdb, t + 2500) == []  # raised once
    assert fleet.gateways(receiver.rdb, now=t + 2500)[0]["state"] == "silent"
    send(receiver, gw, [summary(time.time())])  # it comes back
    (r,) = check_fleet(receiver.rdb, time.time() + 5)
    assert r["kind"] == "gateway_recovered" and r["level"] == "green"
    assert alerts_of(receiver.rdb) == [("gateway_silent", "orange"), ("gateway_recovered", "green")]
    # The bank sees both in its alerts feed, hash-chained.
    token = add_bank(receiver.rdb, "bank-1", "ent-1")["token"]
    status, page = http("GET", f"{receiver.url}/v1/feed/ent-1/alerts", token=token)
    assert status == 200 and [i["kind"] for i in page["items"]] == ["gateway_silent", "gateway_recovered"]
    assert ChainCheck("alert").check(page["items"]) == []


def test_silence_threshold_is_per_enterprise(receiver, gw: FakeGateway) -> None:
    send(receiver, gw, [indicator(0)])
    fleet.set_settings(receiver.rdb, "ent-1", late_after_s=60, silent_after_s=120)
    t = time.time()
    assert [a["kind"] for a in check_fleet(receiver.rdb, t + 130)] == ["gateway_silent"]
    from cloud_stub.errors import ReceiverError

    with pytest.raises(ReceiverError, match="late_after_s"):
        fleet.set_settings(receiver.rdb, "ent-1", late_after_s=500)


def test_unhealthy_devices_and_clock_raise_and_clear(receiver, gw: FakeGateway) -> None:
    t = time.time()
    send(receiver, gw, [summary(t, unhealthy=1, synced=False)])
    raised = check_fleet(receiver.rdb, t + 5)
    assert sorted(a["kind"] for a in raised) == ["clock_unsynced", "device_unhealthy"]
    dev = next(a for a in raised if a["kind"] == "device_unhealthy")
    assert dev["detail"]["errors"] == {"timeout": 1} and dev["detail"]["unhealthy"] == 1
    assert check_fleet(receiver.rdb, t + 10) == []
    send(receiver, gw, [summary(t + 300)])
    assert sorted(a["kind"] for a in check_fleet(receiver.rdb, time.time() + 5)) == ["clock_synced",
                                                                                    "devices_recovered"]


def test_a_backlog_growing_for_hours_raises_an_alert(receiver, gw: FakeGateway) -> None:
    """Signed summaries 3.5 hours apart in gateway time: backlog 2 -> 5 -> 9 batches, never 0."""
    t0 = time.time() - 4 * 3600
    for i, b in enumerate((2, 3, 5, 9)):
        send(receiver, gw, [summary(t0 + i * 4200, backlog=b)])
    (a,) = check_fleet(receiver.rdb, time.time() + 5)
    assert a["kind"] == "backlog_growing" and a["detail"]["batches_then"] == 2 and a["detail"]["batches_now"] == 9
    send(receiver, gw, [summary(t0 + 5 * 4200, backlog=0)])
    assert [x["kind"] for x in check_fleet(receiver.rdb, time.time() + 5)] == ["backlog_cleared"]


def test_a_revoked_gateway_is_revoked_and_raises_nothing(receiver, gw: FakeGateway) -> None:
    from cloud_stub.enrollment import revoke_key

    send(receiver, gw, [summary(time.time())])
    assert [a["kind"] for a in check_fleet(receiver.rdb, time.time() + 4000)] == ["gateway_silent"]
    revoke_key(receiver.rdb, gw.kid)
    assert fleet.gateways(receiver.rdb, now=time.time() + 9999)[0]["state"] == "revoked"
    assert check_fleet(receiver.rdb, time.time() + 9999) == []  # and no "recovered"
    assert alerts_of(receiver.rdb) == [("gateway_silent", "orange")]


# -- the operator API and the CLI ----------------------------------------------------------------


def test_operator_api_needs_an_operator_token(receiver, gw: FakeGateway) -> None:
    send(receiver, gw, [summary(time.time())])
    other = FakeGateway(gateway_id="gw-2", enterprise="ent-2")
    receiver.enroll(other)
    url = f"{receiver.url}/v1/fleet/gateways"
    bank = add_bank(receiver.rdb, "bank-1", "ent-1")["token"]
    assert http("GET", url)[0] == 401
    assert http("GET", url, token=bank)[0] == 401
    op = add_operator(receiver.rdb, "ops-1")["token"]
    status, page = http("GET", url, token=op)
    assert status == 200 and [g["gateway_id"] for g in page["gateways"]] == ["gw-1", "gw-2"]
    assert page["counts"]["online"] == 2 and page["gateways"][0]["health"]["boot"] == 3
    assert page["gateways"][1]["last_contact"] is None and page["gateways"][1]["health"] is None
    status, page = http("GET", url + "?enterprise=ent-2", token=op)
    assert [g["gateway_id"] for g in page["gateways"]] == ["gw-2"]
    status, one = http("GET", url + "/gw-1", token=op)
    assert status == 200 and one["last_seq"] == 1
    status, err = http("GET", url + "/nope", token=op)
    assert status == 404 and err["code"] == "unknown_gateway"
    revoke_operator(receiver.rdb, "ops-1")
    assert http("GET", url, token=op)[0] == 401
    with receiver.rdb.read() as conn:  # the token is stored hashed only
        (h,) = conn.execute("SELECT token_hash FROM operators").fetchone()
    assert op not in h and len(h) == 64


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloud_stub", *args], capture_output=True, text=True, timeout=60)


def test_cli_lists_gateways_and_checks_the_fleet(receiver, gw: FakeGateway) -> None:
    if receiver.rdb.dialect != "sqlite":
        pytest.skip("the CLI reads the SQLite file here; PostgreSQL runs the same functions above")
    send(receiver, gw, [summary(time.time(), unhealthy=1)])
    db = str(receiver.db_path)
    out = _cli("gateways", "--db", db, "--json")
    assert out.returncode == 0, out.stderr
    page = json.loads(out.stdout)
    assert page["kind"] == "fleet" and page["gateways"][0]["state"] == "online"
    table = _cli("gateways", "--db", db, "--enterprise", "ent-1")
    assert table.returncode == 0 and "gw-1" in table.stdout and "1/2 (timeout:1)" in table.stdout
    later = wire.format_time(time.time() + 4000)
    out = _cli("check-fleet", "--db", db, "--now", later, "--json")
    assert out.returncode == 0, out.stderr
    kinds = sorted(a["kind"] for a in json.loads(out.stdout)["alerts"])
    assert kinds == ["device_unhealthy", "gateway_silent"]
    bad = _cli("fleet-settings", "--db", db, "--enterprise", "ent-1", "--late-after", "900", "--silent-after", "60")
    assert bad.returncode == 1 and "late_after_s" in bad.stderr and "Traceback" not in bad.stderr
    ok = _cli("fleet-settings", "--db", db, "--enterprise", "ent-1", "--silent-after", "3600", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["silent_after_s"] == 3600


def test_two_receivers_checking_at_once_raise_each_alert_once(receiver, gw: FakeGateway) -> None:
    """Two receivers on one database (their own connections), each running the fleet check at the same
    moment: the held conditions are re-read under the enterprise lock, so one silence alert in all."""
    import threading

    from cloud_stub.db import open_db

    send(receiver, gw, [summary(time.time())])
    other = open_db(getattr(receiver.rdb, "url", receiver.db_path))
    try:
        later = time.time() + 4000
        out: list[list[dict[str, Any]]] = []
        start = threading.Barrier(2)

        def run(rdb) -> None:  # noqa: ANN001
            start.wait()
            out.append(check_fleet(rdb, later))

        threads = [threading.Thread(target=run, args=(r,)) for r in (receiver.rdb, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(len(x) for x in out) == [0, 1]
        assert alerts_of(receiver.rdb) == [("gateway_silent", "orange")]
    finally:
        other.close()
