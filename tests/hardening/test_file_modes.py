"""Issue 18: every file a gateway run writes that holds data is 0600 or inside a 0700 directory,
even when the state directory was made beforehand with the default umask (0755)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import msgspec

from gateway.identity import init_identity
from gateway.runtime import Gateway
from tests.status.status_helpers import GatewayThread, make_profile, wait_for


def _private(path: Path, root: Path) -> bool:
    """0600-ish (no group/other bits), or every directory from its parent up to root is 0700."""
    if not stat.S_IMODE(path.stat().st_mode) & 0o077:
        return True
    d = path.parent
    while True:
        if not stat.S_IMODE(d.stat().st_mode) & 0o077:
            return True
        if d == root or d == d.parent:
            return False
        d = d.parent


def test_a_run_writes_nothing_readable_by_others(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        state = tmp_path / "state"
        state.mkdir(mode=0o755)  # as a package's postinst or an installer's mkdir leaves it
        os.chmod(state, 0o755)
        data = tmp_path / "data"  # a store outside the state directory, made the same way
        data.mkdir(mode=0o755)
        os.chmod(data, 0o755)
        init_identity(state, None, "sim-factory")
        os.chmod(state, 0o755)  # whatever init did: the gateway itself must not rely on it
        prof = make_profile(None)
        prof = msgspec.structs.replace(prof, store=msgspec.structs.replace(prof.store, path=str(data / "gw.db")),
                                       status=msgspec.structs.replace(prof.status, enabled=False))
        gt = GatewayThread(Gateway(prof, state, simulate=True)).start()
        try:
            wait_for(lambda: gt.gw.indicators_made > 0, 60, 0.2, "indicators computed")
            wait_for(lambda: (state / "status.json").exists(), 30, 0.2, "the status snapshot")
        finally:
            gt.stop()
    finally:
        os.umask(old)
    written = [p for root in (state, data) for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "gw.db" for p in written) and any(p.name == "privacy.key" for p in written)
    loose = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in written
             if not _private(p, p.parents[len(p.relative_to(tmp_path).parts) - 2])}
    assert loose == {}, loose
    assert stat.S_IMODE((data / "gw.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700 and stat.S_IMODE(data.stat().st_mode) == 0o700
