"""A real software TPM 2.0 (swtpm) on loopback ports, for the TPM-backed gateway key tests.

``Swtpm(state_dir).start()`` runs ``swtpm socket --tpm2`` with its state in ``state_dir`` (so a
stop and a start again is a TPM that kept its persistent keys, like a reboot) and answers on
``tcti`` (``swtpm:host=127.0.0.1,port=P``). Missing swtpm: the test skips, or fails when
EDGEPROOF_REQUIRE_SERVICES=1 (CI installs it through scripts/sysdeps.sh).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.processes import free_port, wait_port

SWTPM = shutil.which("swtpm")


def require_swtpm() -> str:
    """The swtpm binary and tpm2-pytss, or skip (fail under EDGEPROOF_REQUIRE_SERVICES=1)."""
    missing = []
    if SWTPM is None:
        missing.append("swtpm (apt-get install swtpm swtpm-tools)")
    try:
        import tpm2_pytss  # noqa: F401
    except ImportError:
        missing.append("tpm2-pytss (pip install 'edgeproof[tpm]', needs libtss2-dev)")
    if missing:
        msg = "TPM tests need " + " and ".join(missing)
        if os.environ.get("EDGEPROOF_REQUIRE_SERVICES") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    assert SWTPM is not None
    return SWTPM


def _two_free_ports() -> int:
    """A port P with P + 1 free too (at the time of asking)."""
    for _ in range(50):
        p = free_port()
        if p < 65535:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p + 1))
                except OSError:
                    continue
            return p
    raise RuntimeError("no two consecutive free loopback ports")


class Swtpm:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def tcti(self) -> str:
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def start(self) -> Swtpm:
        binary = require_swtpm()
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # the swtpm TCTI finds the control channel at port + 1; a restart answers where identity.json says
        self.port = self.port or _two_free_ports()
        ctrl = self.port + 1
        log = open(self.state_dir.parent / f"swtpm-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [binary, "socket", "--tpm2", "--tpmstate", f"dir={self.state_dir}",
             "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
             "--ctrl", f"type=tcp,port={ctrl},bindaddr=127.0.0.1", "--flags", "not-need-init,startup-clear"],
            stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, 10)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            deadline = time.monotonic() + 5
            while self.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(5)
        self.proc = None
