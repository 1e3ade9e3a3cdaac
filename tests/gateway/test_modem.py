"""The modem's link facts from ModemManager: the parser on recorded ``mmcli -J`` documents, the reader
through a stand-in ``mmcli`` executable on PATH (a real subprocess), and the health summary's field.

The recorded documents (tests/fixtures/modem/) follow mmcli's JSON output (ModemManager 1.20):
a Quectel EC25 connected on LTE with extended signal values, a SIMCom SIM7600 still searching.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import modem
from gateway.wire import health as wire_health

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "modem"
PATH_0 = "/org/freedesktop/ModemManager1/Modem/0"


def doc(name: str) -> Any:
    return json.loads((FIX / name).read_text())


def test_a_connected_lte_modem() -> None:
    got = modem.parse_modem(doc("ec25-lte-connected.json"))
    assert got == {"signal_pct": 67, "access": ["lte"], "state": "connected", "operator": "CHINA MOBILE",
                   "operator_code": "46000", "registration": "home"}


def test_identifiers_never_leave() -> None:
    text = json.dumps(modem.parse_modem(doc("ec25-lte-connected.json")))
    for secret in ("861107030000000", "+8613800000000", "cmnet", "SIM/0", "EC25EFAR06A08M4G"):
        assert secret not in text


def test_a_searching_modem_has_no_signal_value_rather_than_zero() -> None:
    got = modem.parse_modem(doc("sim7600-searching.json"))
    assert got == {"state": "searching", "registration": "searching"}  # operator "--", quality not recent


def test_extended_signal_values() -> None:
    assert modem.parse_signal(doc("ec25-signal-get.json")) == {
        "lte": {"rssi_dbm": -68.0, "rsrp_dbm": -97.0, "rsrq_db": -11.0, "snr_db": 9.4}}


def _fake_mmcli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listing: str, fail: bool = False) -> None:
    """An executable ``mmcli`` that prints the recorded document for the arguments it gets."""
    script = tmp_path / "bin" / "mmcli"
    script.parent.mkdir()
    script.write_text(f"""#!/bin/sh
[ "{int(fail)}" = 1 ] && {{ echo 'error: couldn'"'"'t find the ModemManager process' >&2; exit 1; }}
case "$*" in
  "-J -L") cat {FIX / listing} ;;
  "-J -m {PATH_0} --signal-get") cat {FIX / 'ec25-signal-get.json'} ;;
  "-J -m {PATH_0}") cat {FIX / 'ec25-lte-connected.json'} ;;
  *) exit 2 ;;
esac
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")


def test_read_modem_through_mmcli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_mmcli(tmp_path, monkeypatch, "list-one.json")
    got = modem.read_modem()
    assert got is not None and got["operator"] == "CHINA MOBILE" and got["signal"]["lte"]["rsrp_dbm"] == -97.0


@pytest.mark.parametrize("listing, fail", [("list-none.json", False), ("list-one.json", True)])
def test_no_modem_or_no_modemmanager_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listing: str,
                                             fail: bool) -> None:
    _fake_mmcli(tmp_path, monkeypatch, listing, fail)
    assert modem.read_modem() is None


def test_no_mmcli_at_all_is_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert modem.read_modem() is None


def _summary(**later: Any) -> dict[str, Any]:
    return wire_health.health_record(
        subject="gw", ts=1.8e9, boot=1, version="0.1.0", uptime_s=5, clock={"synced": True},
        backlog={"batches": 0, "records": 0, "pending_indicators": 0, "oldest_unacked_s": None},
        devices={"total": 1, "healthy": 1, "unhealthy": 0, "errors": {}, "identified": 1},
        store={"days_left": None}, consent={"last_change": None, "event": None}, **later)


def test_the_health_summary_carries_the_modem_only_where_there_is_one() -> None:
    facts = modem.parse_modem(doc("ec25-lte-connected.json"))
    assert _summary(modem=facts)["modem"]["operator"] == "CHINA MOBILE"
    assert "modem" not in _summary(modem=None)
    with pytest.raises(wire_health.HealthError):  # identified beyond total is a malformed summary
        wire_health.check_health({**_summary(), "devices": {"total": 1, "healthy": 1, "unhealthy": 0,
                                                           "errors": {}, "identified": 2}})


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
                           max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(json_values, st.sampled_from(["generic", "3gpp", "signal"]))
def test_the_parsers_take_any_json(value: Any, where: str) -> None:
    for d in (value, {"modem": value}, {"modem": {where: value}}):
        got = modem.parse_modem(d)
        assert got is None or set(got) <= {"signal_pct", "access", "state", "operator", "operator_code",
                                           "registration"}
        assert isinstance(modem.parse_signal(d), dict)
