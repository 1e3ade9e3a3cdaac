"""Fixtures for driver tests: socat pty pairs (pyserial really runs), shipped register maps."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.profile.load import find_model_file, load_model_file
from gateway.profile.schema import Model


def model(name: str) -> Model:
    path = find_model_file(name)
    assert path is not None, name
    return load_model_file(path)


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two linked ptys from socat (8N1 only: this kernel rejects even parity on ptys)."""
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail("socat is required (scripts/sysdeps.sh installs it)")
    a, b = str(tmp_path / "ttyA"), str(tmp_path / "ttyB")
    proc = subprocess.Popen([socat, "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not (os.path.exists(a) and os.path.exists(b)):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("socat did not create the pty pair")
        time.sleep(0.02)
    try:
        yield a, b
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(5)
