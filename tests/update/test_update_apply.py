"""A good update (health confirmed by a real receiver acknowledging a real batch), updates that
fail their health check and roll back by themselves, and the version-ordering rules."""

from __future__ import annotations

import json
import threading

import pytest
from cloud_helpers import wait_for
from update_site import send_one_batch

from gateway.update.errors import UpdateError
from gateway.update.journal import read_journal, update_summary
from gateway.update.switch import current_version
from gateway.update.updater import apply


def test_good_update_confirmed_by_an_acknowledged_batch(world, enrolled_gateway, run_version) -> None:
    state, url = enrolled_gateway
    bundle = world.bundle("2.0.0")
    errors: list[BaseException] = []

    def new_version_runs() -> None:
        try:
            wait_for(lambda: current_version(world.root) == "2.0.0", timeout=30)
            send_one_batch(state, url)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    t = threading.Thread(target=new_version_runs)
    t.start()
    out = apply(bundle, world.options(state=state, ack_deadline_s=30))
    t.join(30)
    assert not errors, errors
    assert out == {"result": "ok", "version": "2.0.0", "from": "1.0.0",
                   "reason": "selftest passed; a batch was acknowledged"}
    assert run_version(world.root) == "2.0.0"
    assert read_journal(world.root)["step"] == "committed"
    assert sorted(p.name for p in (world.root / "versions").iterdir()) == ["1.0.0", "2.0.0"]
    assert not (world.root / "staging").exists()
    summary = update_summary(world.root)
    assert summary["current"] == "2.0.0" and summary["previous"] == "1.0.0"
    assert summary["last_event"]["kind"] == "update" and summary["last_event"]["result"] == "ok"
    assert summary["last_event"]["version"] == "2.0.0"


def test_no_acknowledged_batch_rolls_back(world, run_version) -> None:
    out = apply(world.bundle("2.0.0"), world.options(ack_deadline_s=0.5))
    assert out["result"] == "rolled_back"
    assert out["reason"] == "no batch acknowledged within 0.5 s of the switch"
    assert run_version(world.root) == "1.0.0"
    assert sorted(p.name for p in (world.root / "versions").iterdir()) == ["1.0.0"]


def test_failing_selftest_rolls_back_and_says_why(world, run_version) -> None:
    out = apply(world.bundle("2.0.0", healthy=False), world.options())
    assert out["result"] == "rolled_back" and out["current"] == "1.0.0"
    assert "selftest of 2.0.0 failed (exit 1)" in out["reason"] and "quick_check" in out["reason"]
    assert run_version(world.root) == "1.0.0"
    assert read_journal(world.root)["step"] == "rolled_back"
    assert not (world.root / "versions" / "2.0.0").exists()
    last = update_summary(world.root)
    assert last["current"] == "1.0.0"
    assert last["last_event"]["result"] == "rolled_back" and "selftest" in last["last_event"]["reason"]
    # the events file is one JSON object per line, readable by the health summary
    lines = (world.root / "update-events.jsonl").read_text().splitlines()
    assert [json.loads(x)["result"] for x in lines] == ["ok", "rolled_back"]


def test_downgrade_refused_unless_allowed(world, run_version) -> None:
    assert apply(world.bundle("2.0.0"), world.options())["result"] == "ok"
    before = world.snapshot()
    with pytest.raises(UpdateError, match=r"1\.5\.0 is older than the running 2\.0\.0; a downgrade needs "
                                          r"--allow-downgrade"):
        apply(world.bundle("1.5.0"), world.options())
    assert world.snapshot() == before
    assert update_summary(world.root)["last_event"]["result"] == "refused"
    out = apply(world.bundle("1.5.0"), world.options(allow_downgrade=True))
    assert out["result"] == "ok" and out["from"] == "2.0.0"
    assert run_version(world.root) == "1.5.0"
    # the version before (2.0.0) is kept for a rollback, the older one (1.0.0) pruned
    assert sorted(p.name for p in (world.root / "versions").iterdir()) == ["1.5.0", "2.0.0"]


def test_same_version_and_min_from_refused(world) -> None:
    before = world.snapshot()
    with pytest.raises(UpdateError, match=r"version 1\.0\.0 is already running"):
        apply(world.bundle("1.0.0"), world.options())
    with pytest.raises(UpdateError, match=r"updates only from 1\.2 or later; this gateway runs 1\.0\.0"):
        apply(world.bundle("3.0.0", min_from="1.2"), world.options())
    assert world.snapshot() == before


def test_restart_command_runs_after_each_switch(world, tmp_path, run_version) -> None:
    """The service is restarted after the switch (so the new version runs) and again after a rollback."""
    log = tmp_path / "restarts"
    restart = ("sh", "-c", f'readlink "{world.root}/current" >> "{log}"')
    assert apply(world.bundle("2.0.0", healthy=False), world.options(restart=restart))["result"] == "rolled_back"
    assert log.read_text().splitlines() == ["versions/2.0.0", "versions/1.0.0"]
    failing = ("sh", "-c", "echo 'Unit edgeproof.service not found.' >&2; exit 5")
    out = apply(world.bundle("2.0.0"), world.options(restart=failing))
    assert out["result"] == "rolled_back"
    assert out["reason"] == "restart command failed (exit 5): Unit edgeproof.service not found."
    assert run_version(world.root) == "1.0.0"


def test_a_bundle_missing_a_dependency_wheel_fails_to_install_and_changes_nothing(world, tmp_path, run_version) -> None:
    """Signed, but the build forgot a dependency: pip (--no-index) cannot resolve it; 1.0.0 stays."""
    from update_wheels import release_wheels

    from gateway.update.bundle import build

    wheels = release_wheels(tmp_path / "dist", "2.0.0")
    next(wheels.glob("tinydep-*.whl")).unlink()
    bundle = tmp_path / "no-dep.bundle"
    build(world.key, wheels, "2.0.0", bundle)
    with pytest.raises(UpdateError, match=r"install of 2\.0\.0 failed; 1\.0\.0 stays current: installing edgeproof "
                                          r"2\.0\.0 from .* failed: .*tinydep"):
        apply(bundle, world.options())
    assert run_version(world.root) == "1.0.0"
    assert sorted(p.name for p in (world.root / "versions").iterdir()) == ["1.0.0"]
    assert read_journal(world.root)["step"] == "rolled_back"
    assert update_summary(world.root)["last_event"]["result"] == "rolled_back"


def test_the_restart_resume_leaves_a_live_update_alone(world, tmp_path, run_version) -> None:
    """`update apply` restarts the service, whose ExecStartPre runs `update resume`: that resume must
    neither roll back the live update nor wait for its lock (the restart would never return)."""
    import shlex
    import sys

    log = tmp_path / "resume.json"
    resume_cmd = shlex.join([sys.executable, "-m", "gateway.cli", "update", "resume", "--root", str(world.root),
                             "--json"])
    out = apply(world.bundle("2.0.0"), world.options(restart=("sh", "-c", f'{resume_cmd} > "{log}"')))
    assert out["result"] == "ok", out
    assert json.loads(log.read_text()) == {"resumed": False, "current": "2.0.0", "busy": True}
    assert run_version(world.root) == "2.0.0"
