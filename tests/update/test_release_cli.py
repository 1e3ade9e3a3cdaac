"""The commands: `release keygen|sign` on the build side, `update pin-key|apply|status` on the gateway."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

from click.testing import CliRunner
from update_wheels import release_wheels

from gateway.cli import cli


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_keygen_sign_pin_apply_status(world, tmp_path: Path) -> None:
    key = tmp_path / "keys" / "release.key"
    out = _run("release", "keygen", "--out", str(key))
    assert out.exit_code == 0, out.output
    assert key.stat().st_mode & 0o777 == 0o600
    secret = key.read_text().split()[1]
    assert secret not in out.output and "pin-key" in out.output
    again = _run("release", "keygen", "--out", str(key))
    assert again.exit_code == 1 and "already exists; refusing to overwrite" in again.output

    wheels = release_wheels(tmp_path / "dist", "2.1.0")
    bundle = tmp_path / "edgeproof-2.1.0.bundle"
    signed = _run("release", "sign", "--key", str(key), "--wheels", str(wheels), "--version", "2.1.0",
                  "--out", str(bundle), "--json")
    assert signed.exit_code == 0, signed.output
    manifest = json.loads(signed.output)
    assert manifest["version"] == "2.1.0" and len(manifest["wheels"]) == 2
    with tarfile.open(bundle) as tar:
        assert sorted(tar.getnames()) == ["manifest.json", "manifest.sig", *sorted(
            f"wheels/{w['name']}" for w in manifest["wheels"])]

    # the world's gateway pins another key: refused, and the message names both keys
    refused = _run("update", "apply", str(bundle), "--root", str(world.root), "--state", str(world.state),
                   "--ack-deadline", "0", "--restart-cmd", "")
    assert refused.exit_code == 1 and "update refused:" in refused.output and "but this gateway pins" in refused.output

    pinned = _run("update", "pin-key", f"{key}.pub", "--state", str(world.state),
                  "--pinned-key", str(tmp_path / "pin.pub"))
    assert pinned.exit_code == 0 and "pinned release key" in pinned.output
    applied = _run("update", "apply", str(bundle), "--root", str(world.root), "--state", str(world.state),
                   "--pinned-key", str(tmp_path / "pin.pub"), "--ack-deadline", "0", "--restart-cmd", "")
    assert applied.exit_code == 0, applied.output
    assert "updated 1.0.0 -> 2.1.0" in applied.output
    status = json.loads(_run("update", "status", "--root", str(world.root), "--json").output)
    assert status["current"] == "2.1.0" and status["previous"] == "1.0.0"
    assert status["last_event"]["result"] == "ok"


def test_sign_errors_name_the_file(tmp_path: Path) -> None:
    key = tmp_path / "release.key"
    assert _run("release", "keygen", "--out", str(key)).exit_code == 0
    wheels = release_wheels(tmp_path / "dist", "2.0.0")
    wrong = _run("release", "sign", "--key", str(key), "--wheels", str(wheels), "--version", "2.0.1",
                 "--out", str(tmp_path / "b"))
    assert wrong.exit_code == 1 and "no wheel of edgeproof 2.0.1 (expected edgeproof-2.0.1-*.whl)" in wrong.output
    bad_version = _run("release", "sign", "--key", str(key), "--wheels", str(wheels), "--version", "two",
                       "--out", str(tmp_path / "b"))
    assert bad_version.exit_code == 1 and "--version: 'two' is not a version" in bad_version.output
    os.chmod(key, 0o644)
    loose = _run("release", "sign", "--key", str(key), "--wheels", str(wheels), "--version", "2.0.0",
                 "--out", str(tmp_path / "b"))
    assert loose.exit_code == 1 and "readable by others (mode 0o644); expected 0600" in loose.output
    assert not (tmp_path / "b").exists()


def test_pin_key_rejects_what_is_not_a_public_key(tmp_path: Path) -> None:
    key = tmp_path / "release.key"
    assert _run("release", "keygen", "--out", str(key)).exit_code == 0
    out = _run("update", "pin-key", str(key), "--pinned-key", str(tmp_path / "pin.pub"))
    assert out.exit_code == 1
    assert "not a release key file (expected first line 'edgeproof-release-public-key-v1')" in out.output
    assert not (tmp_path / "pin.pub").exists()


def test_unhealthy_version_exits_non_zero(world) -> None:
    out = _run("update", "apply", str(world.bundle("2.0.0", healthy=False)), "--root", str(world.root),
               "--state", str(world.state), "--ack-deadline", "0", "--restart-cmd", "")
    assert out.exit_code == 1 and "2.0.0 rolled_back: selftest of 2.0.0 failed" in out.output
    resumed = _run("update", "resume", "--root", str(world.root))
    assert resumed.exit_code == 0 and "no interrupted update; 1.0.0 is current" in resumed.output


def test_an_unusable_update_root_is_a_clear_error(world, tmp_path: Path) -> None:
    (tmp_path / "root-is-a-file").write_text("x")
    not_a_dir = tmp_path / "root-is-a-file" / "root"
    out = CliRunner().invoke(cli, ["update", "apply", str(world.bundle("2.0.0")), "--root", str(not_a_dir),
                                   "--state", str(world.state), "--ack-deadline", "0", "--restart-cmd", ""])
    assert out.exit_code == 1 and "update failed:" in out.output and "root-is-a-file" in out.output
    assert out.exception is None or isinstance(out.exception, SystemExit)
    res = CliRunner().invoke(cli, ["update", "resume", "--root", str(not_a_dir)])  # ExecStartPre on a bare system
    assert res.exit_code == 0 and "no interrupted update; (no version) is current" in res.output


def test_an_unreadable_journal_leaves_current_alone(world, run_version) -> None:
    (world.root / "update-journal.json").write_text('{"format": "edgeproof-update-journal/99", "step": "x"}')
    res = CliRunner().invoke(cli, ["update", "resume", "--root", str(world.root)])
    assert res.exit_code == 1 and "the update journal cannot be read; `current` is left as it is (1.0.0)" in res.output
    assert run_version(world.root) == "1.0.0"
    blocked = CliRunner().invoke(cli, ["update", "apply", str(world.bundle("2.0.0")), "--root", str(world.root),
                                       "--state", str(world.state), "--ack-deadline", "0", "--restart-cmd", ""])
    assert blocked.exit_code == 1 and "interrupted at step 'unreadable'" in blocked.output


def test_summary_of_a_gateway_not_installed_through_updates(tmp_path: Path, monkeypatch) -> None:
    from gateway.update.journal import update_summary

    monkeypatch.setenv("EDGEPROOF_UPDATE_ROOT", str(tmp_path / "nothing-here"))
    assert update_summary() == {"current": None, "previous": None, "last_event": None}


def test_re_pinning_another_key_needs_replace(tmp_path: Path) -> None:
    for name in ("a.key", "b.key"):
        assert _run("release", "keygen", "--out", str(tmp_path / name)).exit_code == 0
    pin = str(tmp_path / "pin.pub")
    assert _run("update", "pin-key", str(tmp_path / "a.key.pub"), "--pinned-key", pin).exit_code == 0
    assert _run("update", "pin-key", str(tmp_path / "a.key.pub"), "--pinned-key", pin).exit_code == 0  # same: fine
    before = Path(pin).read_bytes()
    other = _run("update", "pin-key", str(tmp_path / "b.key.pub"), "--pinned-key", pin)
    assert other.exit_code == 1 and "is pinned already" in other.output and "needs --replace" in other.output
    assert Path(pin).read_bytes() == before
    assert _run("update", "pin-key", str(tmp_path / "b.key.pub"), "--pinned-key", pin, "--replace").exit_code == 0
    assert Path(pin).read_bytes() == (tmp_path / "b.key.pub").read_bytes()
