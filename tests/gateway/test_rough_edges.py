"""Issue 16's rough edges, as a field installer meets them: `run` before enrollment, `demo`'s
progress lines as it goes, `probe`'s driver and model per device."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.commands._progress import Progress
from gateway.commands.probe import command as probe_command
from tests.drivers.test_probe import DEAD_UNIT

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def test_run_without_key_or_enrollment_says_what_to_run_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    res = _cli("run", "--state", str(state))
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    assert res.stderr.strip().count("\n") == 0 and "edgeproof init" in res.stderr
    assert _cli("init", "--state", str(state)).returncode == 0
    res = _cli("run", "--state", str(state))
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert "not enrolled" in lines[0] and f"edgeproof enroll --state {state}" in lines[0]
    assert "edgeproof cloud token" in lines[0]


def test_progress_lines_count_steps_and_elapsed_time() -> None:
    now = [100.0]
    out: list[str] = []
    p = Progress(3, clock=lambda: now[0], echo=out.append)
    p.step("one")
    now[0] += 12.25
    p.note("half way")
    p.step("two")
    quiet = Progress(3, enabled=False, echo=out.append)
    quiet.step("never shown")
    assert out == ["[   0.0 s] step 1/3: one", "[  12.2 s]   half way", "[  12.2 s] step 2/3: two"]


@pytest.mark.slow
def test_demo_prints_each_step_as_it_goes_and_nothing_but_json_with_json(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "demo", "--seconds", "3", "--history-days", "0",
                             "--keep", str(tmp_path / "demo")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    # The first step is on screen while the demo still runs, not at the end.
    assert first.startswith("[") and "step 1/8" in first and proc.poll() is None
    rest, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, rest[-2000:] + err[-3000:]
    lines = [first.rstrip("\n"), *rest.splitlines()]
    steps = [ln for ln in lines if re.match(r"^\[\s*\d+\.\d s\] step \d/8: ", ln)]
    assert [int(re.search(r"step (\d)/8", s).group(1)) for s in steps] == [1, 2, 3, 4, 5, 6, 7, 8]
    elapsed = [float(re.match(r"^\[\s*([\d.]+) s\]", s).group(1)) for s in steps]
    assert elapsed == sorted(elapsed) and elapsed[-1] >= 3.0  # the gateway step alone runs 3 s
    assert any("batches acknowledged" in ln for ln in lines) and "CHAIN HELD" in rest

    t0 = time.monotonic()
    res = _cli("demo", "--seconds", "3", "--history-days", "0", "--json", timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout.strip().splitlines()
    assert len(out) == 1 and json.loads(out[0])["ok"], res.stdout[-2000:]
    assert time.monotonic() - t0 < 120


def test_probe_table_and_json_name_driver_and_model(tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text(DEAD_UNIT)
    res = CliRunner().invoke(probe_command, ["--profile", str(p)])
    header = res.output.splitlines()[0].split()
    assert header[:3] == ["DEVICE", "DRIVER", "MODEL"], res.output
    climate = next(ln for ln in res.output.splitlines() if ln.startswith("climate "))
    assert climate.split()[:3] == ["climate", "modbus_rtu", "xy-md02"]
    broken = next(ln for ln in res.output.splitlines() if ln.startswith("broken-meter "))
    assert broken.split()[:3] == ["broken-meter", "modbus_rtu", "eastron-sdm120"] and "FAILED" in broken
    res = CliRunner().invoke(probe_command, ["--profile", str(p), "--json"])
    report = json.loads(res.output)
    assert {(e["device"], e["driver"], e["model"]) for e in report["devices"]} == {
        ("climate", "modbus_rtu", "xy-md02"), ("broken-meter", "modbus_rtu", "eastron-sdm120")}
