"""A power cut (`kill -9` of the updater) at every step: at that moment `current` is the old or
the new finished install, never neither; `edgeproof update resume` (the service's ExecStartPre)
then leaves exactly one consistent version current, and a later update goes through.

The updater runs as a real subprocess (the CLI) and SIGKILLs itself at the point named by
EDGEPROOF_UPDATE_KILL_AT -- no cleanup, no atexit, as a pulled plug."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.update.journal import read_journal, update_summary
from gateway.update.switch import current_version, installed_version
from gateway.update.updater import KILL_ENV, apply, resume

REPO = Path(__file__).resolve().parents[2]
# (point, healthy new version?, version current after resume)
POINTS = [
    ("staged", True, "1.0.0"),
    ("installing", True, "1.0.0"),
    ("venv-made", True, "1.0.0"),
    ("installed", True, "1.0.0"),
    ("switching", True, "1.0.0"),
    ("link-made", True, "1.0.0"),
    ("switched", True, "1.0.0"),
    ("checking", True, "1.0.0"),
    ("committed", True, "2.0.0"),
    ("stable-link-made", True, "2.0.0"),
    ("rolled_back", False, "1.0.0"),
    ("rolling_back", False, "1.0.0"),
    ("rollback-link-made", False, "1.0.0"),
]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", "update", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


@pytest.mark.parametrize(("point", "healthy", "after"), POINTS, ids=[p[0] for p in POINTS])
def test_kill_at_each_step_then_resume(world, run_version, point: str, healthy: bool, after: str) -> None:
    bundle = world.bundle("2.0.0", healthy=healthy)
    run = _cli("apply", str(bundle), "--root", str(world.root), "--state", str(world.state), "--ack-deadline", "0",
               "--restart-cmd", "", env={KILL_ENV: point})
    assert run.returncode == -signal.SIGKILL, (run.returncode, run.stdout, run.stderr)
    journal_step = {"venv-made": "installing", "link-made": "switching", "rollback-link-made": "rolling_back",
                    "stable-link-made": "committed"}.get(point, point)
    assert read_journal(world.root)["step"] == journal_step
    # at the moment of the cut: a finished install is current, old or new, never neither; and `stable`
    # (from which ExecStartPre runs resume) is a finished install that passed its health check
    assert current_version(world.root) in ("1.0.0", "2.0.0")
    assert installed_version(world.root / "stable") in ("1.0.0", "2.0.0")

    res = _cli("resume", "--root", str(world.root), "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    final = point in ("committed", "stable-link-made", "rolled_back")
    assert out["current"] == after and out["resumed"] == (not final)
    # exactly one consistent version: the link, the marker and the running program agree
    assert run_version(world.root) == after
    assert os.readlink(world.root / "stable") == os.readlink(world.root / "current") == f"versions/{after}"
    assert read_journal(world.root)["step"] in ("committed", "rolled_back")
    versions = sorted(p.name for p in (world.root / "versions").iterdir())
    assert versions == (["1.0.0"] if after == "1.0.0" else ["1.0.0", "2.0.0"])
    assert all(installed_version(world.root / "versions" / v) == v for v in versions)
    assert not (world.root / "staging").exists()
    assert not (world.root / ".current.new").is_symlink() and not (world.root / ".stable.new").is_symlink()
    last = update_summary(world.root)["last_event"]
    assert last["version"] == "2.0.0" and last["kind"] == ("update" if final else "resume")
    assert last["result"] == ("ok" if after == "2.0.0" else "rolled_back")
    # a second resume is a no-op (ExecStartPre runs at every start)
    assert resume(world.root) == {"resumed": False, "current": after}


def test_apply_waits_for_resume_then_succeeds(world, run_version) -> None:
    bundle = world.bundle("2.0.0")
    run = _cli("apply", str(bundle), "--root", str(world.root), "--state", str(world.state), "--ack-deadline", "0",
               "--restart-cmd", "", env={KILL_ENV: "switched"})
    assert run.returncode == -signal.SIGKILL
    blocked = _cli("apply", str(bundle), "--root", str(world.root), "--state", str(world.state))
    assert blocked.returncode == 1
    assert "interrupted at step 'switched'; run `edgeproof update resume` first" in blocked.stderr
    assert "Traceback" not in blocked.stderr
    assert _cli("resume", "--root", str(world.root)).returncode == 0
    assert apply(bundle, world.options())["result"] == "ok"
    assert run_version(world.root) == "2.0.0"
