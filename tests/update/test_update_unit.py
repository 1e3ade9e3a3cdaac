"""The service resumes an interrupted update before every start (ExecStartPre), and systemd
accepts the directive."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.service.unit import ServiceConfig, render_unit

CFG = ServiceConfig(exec_path="/opt/edgeproof/current/bin/edgeproof", update_root="/opt/edgeproof")


def test_exec_start_pre_resumes_the_update() -> None:
    lines = render_unit(CFG).splitlines()
    pre = "ExecStartPre=-+/opt/edgeproof/stable/bin/edgeproof update resume --root /opt/edgeproof"
    assert pre in lines
    assert lines.index(pre) < next(i for i, ln in enumerate(lines) if ln.startswith("ExecStart="))
    assert not [ln for ln in render_unit(ServiceConfig(exec_path="/x/edgeproof")).splitlines()
                if ln.startswith("ExecStartPre")]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_exec_start_pre(tmp_path: Path) -> None:
    exe = tmp_path / "stable" / "bin" / "edgeproof"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    unit = tmp_path / "edgeproof.service"
    unit.write_text(render_unit(ServiceConfig(exec_path=str(exe), update_root=str(tmp_path))))
    res = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    mine = [ln for ln in (res.stdout + res.stderr).splitlines() if "edgeproof.service" in ln]
    assert not [ln for ln in mine if "Unknown" in ln or "ignoring" in ln or "Invalid" in ln], mine
