"""Issue 18: in CI a missing system service fails its tests (naming the package) instead of skipping them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE = '''
from tests.support.services import require_for_module

require_for_module(False, "mosquitto", "mosquitto")

def test_x():
    pass
'''
FIXTURE = '''
import pytest
from tests.support.services import missing_service

@pytest.fixture
def server():
    missing_service("the PostgreSQL server (initdb, pg_ctl)", "postgresql")

def test_y(server):
    pass
'''


def _pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_needs_mosquitto.py").write_text(MODULE)
    (tmp_path / "test_needs_postgres.py").write_text(FIXTURE)
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "EDGEPROOF_REQUIRE_SERVICES")}
    args = ["-q", "-p", "no:cacheprovider", "-rs", "--continue-on-collection-errors", str(tmp_path)]
    return subprocess.run([sys.executable, "-m", "pytest", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**clean, "PYTHONPATH": str(ROOT), **env})


def test_missing_services_skip_on_a_developer_machine(tmp_path: Path) -> None:
    res = _pytest(tmp_path)
    assert res.returncode == 0 and "2 skipped" in res.stdout, res.stdout


def test_missing_services_fail_in_ci_naming_the_package(tmp_path: Path) -> None:
    res = _pytest(tmp_path, EDGEPROOF_REQUIRE_SERVICES="1")
    assert res.returncode != 0, res.stdout
    for package in ("'mosquitto'", "'postgresql'"):
        assert f"install the Debian package {package}" in res.stdout, res.stdout
