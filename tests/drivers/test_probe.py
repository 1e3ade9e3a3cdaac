"""`edgeproof probe` against the emulated twins: every device read once, counters shown,
non-zero exit when a unit fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from gateway.commands.probe import command

DEAD_UNIT = """
[site]
id = "probe-test"
simulated = true

[[buses]]
name = "rs485-1"
kind = "serial"
port = "/dev/ttySC0"
timeout_s = 0.2

[[devices]]
name = "climate"
driver = "modbus_rtu"
model = "xy-md02"
bus = "rs485-1"
unit_id = 10
sim = { scenario = "climate" }

[[devices]]
name = "broken-meter"
driver = "modbus_rtu"
model = "eastron-sdm120"
bus = "rs485-1"
unit_id = 7
timeout_s = 0.2
sim = { dead = true }
"""


FIELD_DRIVERS = {"modbus_tcp", "modbus_rtu", "sht31d", "bme280", "aht20", "pulse", "digital_in", "hx711", "gnss"}


def test_probe_sim_factory_reads_every_device() -> None:
    res = subprocess.run([sys.executable, "-m", "gateway.cli", "probe", "--json"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout)
    assert report["ok"] and report["simulated"]
    by_driver = {e["driver"] for e in report["devices"]}
    assert by_driver >= FIELD_DRIVERS
    for e in report["devices"]:
        assert e["ok"] and e["latency_ms"] is not None, e
        if e["driver"] in FIELD_DRIVERS:  # other sources (cameras) have their own tests
            assert all(p["quality"] == "good" for p in e["points"]), e
    rtu = [e for e in report["devices"] if e["driver"] == "modbus_rtu"]
    assert all(e["wire_ms"] > 0 for e in rtu)
    line = next(b for b in report["buses"] if b["bus"] == "rs485-1")
    assert 0 < line["utilisation_pct"] < 100
    weights = [p["value"] for e in report["devices"] if e["driver"] == "hx711" for p in e["points"]]
    assert abs(weights[0] - 1850) < 5
    # identity registers (issue 17): every Eastron answers a serial, distinct per meter; the CHINT its firmware
    # (over TCP and over the RTU line); devices without identity registers report none
    serials = [e["identity"]["serial"] for e in report["devices"] if (e.get("model") or "").startswith("eastron")]
    assert len(serials) == 4 and len(set(serials)) == 4, serials
    chint = next(e for e in report["devices"] if e.get("model") == "chint-dtsu666")
    assert chint["identity"] == {"firmware": "204"}
    assert all("identity" not in e for e in report["devices"] if e["driver"] not in ("modbus_tcp", "modbus_rtu"))


def test_probe_exits_non_zero_and_shows_the_dead_units_counters(tmp_path: Path) -> None:
    p = tmp_path / "dead.toml"
    p.write_text(DEAD_UNIT)
    res = CliRunner().invoke(command, ["--profile", str(p)])
    assert res.exit_code == 1, res.output
    assert "broken-meter: FAILED timeout" in res.output and "errors: timeout=1" in res.output
    assert "climate: ok; requests=1; errors: none" in res.output
    assert "1 of 2 devices answered; FAILED: broken-meter" in res.output
