"""Meters that cannot be swapped: identity registers, signed identity records, the receiver's rule.

A real gateway runtime (emulated SDM630 answering its serial at 0xFC00, real store, batcher and HTTP
uplink) against a real receiver on loopback: the meter is swapped mid-run (the emulated unit goes
silent, comes back with another serial), the gateway signs the change, the receiver raises
``meter_identity_changed`` with both serials and the rule ``meter_identity`` scores it. Duplicates
and malformed records come from the test gateway's signed batches (a healthy gateway never sends
them). Waits are for conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cloud_helpers import FakeGateway
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_stub.analysis import run_analysis
from cloud_stub.enrollment import issue_token
from gateway.identity import enroll, init_identity
from gateway.privacy.tokens import site_tokeniser
from gateway.profile import load_profile
from gateway.runtime import Gateway
from gateway.wire import identity as wire_identity

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "one-meter.toml"


def _findings(receiver: Any, kind: str) -> list[dict[str, Any]]:
    with receiver.rdb.read() as conn:
        return [json.loads(r[0]) | {"_gw": r[1], "_ent": r[2]} for r in conn.execute(
            "SELECT detail, gateway_id, enterprise_id FROM findings WHERE kind = ? ORDER BY id", (kind,))]


def _identities(receiver: Any) -> dict[tuple[str, str], dict[str, Any]]:
    with receiver.rdb.read() as conn:
        return {(r[0], r[1]): json.loads(r[2]) for r in conn.execute(
            "SELECT gateway_id, device, identity FROM device_identity")}


async def _until(pred: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def test_a_meter_swapped_mid_run_is_signed_and_flagged(receiver: Any, tmp_path: Path) -> None:
    state = tmp_path / "gw"
    init_identity(state, "gw-swap", "t")
    enroll(state, receiver.url, issue_token(receiver.rdb, "ent-1")["token"])
    prof = load_profile(PROFILE)
    prof = msgspec.structs.replace(prof, uplink=msgspec.structs.replace(prof.uplink, health_interval_s=0.5))

    async def run() -> tuple[str, list[dict[str, Any]]]:
        gw = Gateway(prof, state, simulate=True)
        gw.identity_check_s = 0.2
        await gw.start()
        try:
            poller = gw.scheduler.pollers[0]
            unit = gw.emulators[0].units[1]
            await _until(lambda: gw.identities.sent >= 1 and gw.sender.backlog() == 0, "the first sighting acked")
            first = dict(poller.identity or {})
            assert first["serial"] == str(unit.identity["serial"])  # what the emulator's 0xFC00 holds
            # The swap: the meter goes off the line, another one (another serial) answers in its place.
            unit.dead = True
            await _until(lambda: poller.health.state == "unhealthy", "the meter off the line")
            unit.identity = {**unit.identity, "serial": 77000123}
            unit.dead = False
            await _until(lambda: gw.identities.sent >= 2 and gw.sender.backlog() == 0, "the change acked")
            sent = gw.health.sent
            await _until(lambda: gw.health.sent > sent and gw.sender.backlog() == 0, "a later summary acked")
            with gw.store._lock:
                bodies = [json.loads(b) for (b,) in gw.store.db.execute("SELECT body FROM outbox ORDER BY seq")]
            return first["serial"], [r for b in bodies for r in b["records"]]
        finally:
            await gw.stop(drain_s=5)

    old_serial, records = asyncio.run(run())
    signed = [r for r in records if r["type"] == "device_identity"]
    assert [r["event"] for r in signed] == ["first_seen", "changed"]
    assert signed[1]["previous"]["serial"] == old_serial and signed[1]["identity"]["serial"] == "77000123"
    assert all(set(r) >= {"device", "identity"} and "value" not in r for r in signed)  # ids, never a reading
    # the device as the site's keyed token (its name stays on site), its asset as the subject
    token = site_tokeniser(state).token("device", "meter-1").replace("x_", "d_", 1)
    assert {r["device"] for r in signed} == {token} and {r["subject"] for r in signed} == {"press-1"}
    assert all("meter-1" not in json.dumps(r) for r in signed)
    health = [r for r in records if r["type"] == "health"]
    assert health[-1]["devices"]["identified"] == 1
    # The receiver: the latest identity per (gateway, device), the change as a finding with both serials.
    assert _identities(receiver)[("gw-swap", token)]["serial"] == "77000123"
    (changed,) = _findings(receiver, "meter_identity_changed")
    assert changed["old"]["serial"] == old_serial and changed["new"]["serial"] == "77000123"
    assert changed["fields"] == ["serial"] and changed["device"] == token and changed["_gw"] == "gw-swap"
    # The rule scores it, with the numbers.
    report = run_analysis(receiver.rdb, "ent-1", signing_key=receiver.key).report
    (f,) = [f for f in report["findings"] if f["rule"] == "meter_identity"]
    assert f["severity"] == "orange" and f["statistic"] == {"swaps": 1, "devices": 1}
    assert f["compared"]["changes"][0]["old_serial"] == old_serial
    assert f["compared"]["changes"][0]["new_serial"] == "77000123"


def _rec(device: str, serial: str, *, previous: dict[str, str] | None = None, ts: float = 1.8e9) -> dict[str, Any]:
    return wire_identity.identity_record(device=device, subject="press-1", driver="modbus_tcp",
                                         model_map="eastron-sdm630", ts=ts, identity={"serial": serial, "model": "112"},
                                         previous=previous)


def test_one_serial_on_two_gateways_and_on_two_devices_is_a_duplicate(receiver: Any) -> None:
    a, b = FakeGateway(gateway_id="gw-a"), FakeGateway(gateway_id="gw-b")
    receiver.enroll(a)
    receiver.enroll(b)
    assert receiver.post(a.next([_rec("meter-1", "31337")]).envelope())[0] == 200
    assert receiver.post(b.next([_rec("meter-9", "42")]).envelope())[0] == 200
    assert _findings(receiver, "meter_serial_duplicate") == []
    # gw-b's meter-7 claims gw-a's meter: one physical meter behind two gateways.
    assert receiver.post(b.next([_rec("meter-7", "31337")]).envelope())[0] == 200
    (dup,) = _findings(receiver, "meter_serial_duplicate")
    assert dup["serial"] == "31337" and dup["claimed_by"] == 2 and dup["gateways"] == 2
    assert dup["same_enterprise"] == [{"gateway": "gw-a", "device": "meter-1"}] and dup["_gw"] == "gw-b"
    # A resend of the same record is stored once and raises nothing new.
    assert receiver.post(b.make(seq=b.seq, prev=b.prev).envelope())[0] in (200, 409)
    assert len(_findings(receiver, "meter_serial_duplicate")) == 1
    # The same serial under another register map is another maker's numbering: not a duplicate.
    other = dict(_rec("meter-8", "31337"), map="chint-dtsu666")
    assert receiver.post(b.next([other]).envelope())[0] == 200
    assert len(_findings(receiver, "meter_serial_duplicate")) == 1
    report = run_analysis(receiver.rdb, "ent-1", signing_key=receiver.key).report
    (f,) = [f for f in report["findings"] if f["rule"] == "meter_identity"]
    assert f["severity"] == "red" and f["compared"]["serials"] == ["31337"]


def test_a_firmware_update_is_information_and_a_stale_record_changes_nothing(receiver: Any) -> None:
    g = FakeGateway(gateway_id="gw-f")
    receiver.enroll(g)
    kw = {"device": "cnc", "subject": "cnc-1", "driver": "modbus_rtu", "model_map": "chint-dtsu666"}
    fw1 = wire_identity.identity_record(**kw, ts=1.8e9, identity={"firmware": "204"}, previous=None)
    fw2 = wire_identity.identity_record(**kw, ts=1.8e9 + 9, identity={"firmware": "205"}, previous={"firmware": "204"})
    assert receiver.post(g.next([fw1]).envelope())[0] == 200
    assert receiver.post(g.next([fw2]).envelope())[0] == 200
    (ch,) = _findings(receiver, "meter_identity_changed")
    assert ch["fields"] == ["firmware"] and (ch["old"], ch["new"]) == ({"firmware": "204"}, {"firmware": "205"})
    report = run_analysis(receiver.rdb, "ent-1", signing_key=receiver.key).report
    (f,) = [f for f in report["findings"] if f["rule"] == "meter_identity"]
    assert f["severity"] == "info"


def test_a_malformed_identity_record_is_a_finding_and_the_batch_is_kept(receiver: Any) -> None:
    g = FakeGateway(gateway_id="gw-m")
    receiver.enroll(g)
    bad = dict(_rec("meter-1", "5"), identity={"serial": "x" * 200})
    status, out = receiver.post(g.next([bad]).envelope())
    assert status == 200, out
    (m,) = _findings(receiver, "identity_malformed")
    assert m["key"] == "identity" and m["index"] == 0
    assert _identities(receiver) == {}


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "name", "category", "v", "subject", "device", "driver", "map",
                                        "time", "window", "event", "identity", "previous", "x"]),
                       st.none() | st.booleans() | st.integers() | st.text(max_size=80)
                       | st.dictionaries(st.text(max_size=10), st.text(max_size=70) | st.integers(), max_size=4)))
def test_check_identity_raises_only_identity_error(rec: dict[str, Any]) -> None:
    base = _rec("meter-1", "1")
    try:
        wire_identity.check_identity({**base, **rec})
    except wire_identity.IdentityError as exc:
        assert exc.path and exc.expected


@pytest.mark.parametrize("key, value", [("event", "swapped"), ("previous", {"serial": "1"}), ("subject", ""),
                                        ("identity", {}), ("identity", {"colour": "red"}), ("v", 2)])
def test_check_identity_names_the_wrong_key(key: str, value: Any) -> None:
    with pytest.raises(wire_identity.IdentityError) as err:
        wire_identity.check_identity({**_rec("meter-1", "1"), key: value})
    assert err.value.path == key
