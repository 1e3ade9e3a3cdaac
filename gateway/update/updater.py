"""The update, step by step, each step recorded in the journal before it is taken, so that a
power cut at any point leaves the old version or the new one current -- never neither -- and
``resume`` (run by the service's ExecStartPre on the next start) finishes the job.

apply:  unpack + verify (nothing recorded but a "refused" event if the bundle is bad)
        -> staged -> installing -> installed       (``current`` untouched)
        -> switching -> switched                   (``current`` renamed to the new version)
        -> checking -> committed                   (health check passed)
                    -> rolling_back -> rolled_back (health check failed: ``current`` back to the old one)
resume: an unfinished journal is rolled back: ``current`` is pointed (again) at the version it
        replaced and the half-installed or unchecked version removed. Rolling back is the one answer
        that is right at every step: the old version was healthy; the new one was never confirmed.

``EDGEPROOF_UPDATE_KILL_AT=<point>`` makes the updater SIGKILL itself at that point: the tests'
power cut (points: the steps above plus venv-made, link-made, rollback-link-made).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.i18n import N_
from gateway.update import health as health_mod
from gateway.update import install as install_mod
from gateway.update.bundle import unpack
from gateway.update.errors import UpdateError
from gateway.update.journal import (
    FINAL,
    JOURNAL_FORMAT,
    now_iso,
    read_events,
    read_journal,
    record_event,
    write_journal,
)
from gateway.update.release_key import load_public
from gateway.update.switch import (
    CURRENT,
    STABLE,
    VERSIONS,
    current_target,
    current_version,
    installed_version,
    link_target,
    point_current,
    version_dir,
)
from gateway.update.verify import verify

KILL_ENV = "EDGEPROOF_UPDATE_KILL_AT"
STAGING = "staging"
LOCK = ".update.lock"
PRE_SWITCH = ("staged", "installing", "installed")


def checkpoint(point: str) -> None:
    """The power-cut hook for tests: die here, now, without cleanup, as a pulled plug would."""
    if os.environ.get(KILL_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Options:
    root: Path
    state: Path
    pinned_key: Path
    allow_downgrade: bool = False
    ack_deadline_s: float = 600.0
    selftest_timeout_s: float = 300.0
    selftest_args: tuple[str, ...] = ()
    restart: Sequence[str] | None = None  # e.g. ("systemctl", "try-restart", "edgeproof.service")
    ack_probe: Callable[[], float | None] | None = field(default=None, repr=False)


class Busy(UpdateError):
    """Another updater holds the root's lock (released by the kernel when that process dies)."""


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Busy(N_("{root}: another update is running (lock {value})"), root=root, value=root / LOCK) from exc
        yield
    finally:
        os.close(fd)


def _step(root: Path, journal: dict[str, Any], step: str, **extra: Any) -> None:
    journal.update(step=step, **extra)
    write_journal(root, journal)
    checkpoint(step)


def _restart(opts: Options) -> str | None:
    """Restart the service so the version ``current`` points at runs; the error text, or None."""
    if not opts.restart:
        return None
    try:
        run = subprocess.run(list(opts.restart), capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"restart command {' '.join(opts.restart)} failed: {exc}"
    return None if run.returncode == 0 else f"restart command failed (exit {run.returncode}): {run.stderr.strip()}"


def _prune(root: Path, keep: set[str]) -> None:
    """Keep the current and previous versions (a rollback needs the previous one); drop the rest."""
    for d in (root / VERSIONS).glob("*"):
        if d.name not in keep and d.is_dir():
            shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(root / STAGING, ignore_errors=True)


def apply(bundle: Path, opts: Options) -> dict[str, Any]:
    """Verify, install side by side, switch, check health; roll back by itself if unhealthy.
    Raises UpdateError for a bundle refused before anything changed."""
    root = opts.root
    with _locked(root):
        journal = read_journal(root)
        if journal is not None and journal.get("step") not in FINAL:
            raise UpdateError(N_("{root}: the update to {value} was interrupted at step '{value2}'; run `edgeproof "
                                 "update resume` first"),
                              root=root, value=journal.get('version'), value2=journal.get('step'))
        if not opts.pinned_key.exists():
            raise UpdateError(N_("{pinned_key}: no pinned release key; run `edgeproof update pin-key KEY.pub`"),
                              pinned_key=opts.pinned_key)
        pinned = load_public(opts.pinned_key)
        staging = root / STAGING
        shutil.rmtree(staging, ignore_errors=True)
        prev_target, prev_version = current_target(root), current_version(root)
        try:
            manifest_raw, signature_raw = unpack(bundle, staging)
            manifest = verify(manifest_raw, signature_raw, staging / "wheels", pinned, prev_version,
                              allow_downgrade=opts.allow_downgrade, where=str(bundle))
        except UpdateError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            record_event(root, "refused", None, "refused", str(exc), bundle=str(bundle))
            raise
        version = manifest.version
        journal = {"format": JOURNAL_FORMAT, "id": uuid.uuid4().hex, "version": version,
                   "from": prev_version, "previous": prev_target,
                   "bundle": str(bundle), "started": now_iso()}
        _step(root, journal, "staged")
        dest = version_dir(root, version)
        _step(root, journal, "installing")
        try:
            install_mod.install(manifest, staging / "wheels", dest, checkpoint)
        except (UpdateError, OSError, subprocess.TimeoutExpired) as exc:
            reason = str(exc)
            install_mod.remove(dest)
            _step(root, journal, "rolled_back", reason=reason)
            record_event(root, "update", version, "rolled_back", reason, id=journal["id"], **{"from": prev_version})
            raise UpdateError(N_("install of {version} failed; {value} stays current: {reason}"),
                              version=version, value=prev_version or 'nothing', reason=reason) from exc
        _step(root, journal, "installed")
        _step(root, journal, "switching")
        since = time.time()
        point_current(root, link_target(version), checkpoint)
        _step(root, journal, "switched")
        problem = _restart(opts)
        _step(root, journal, "checking")
        if problem is None:
            h = health_mod.check(dest, opts.state, since=since, ack_deadline_s=opts.ack_deadline_s,
                                 selftest_timeout_s=opts.selftest_timeout_s, selftest_args=opts.selftest_args,
                                 ack_probe=opts.ack_probe)
            ok, reason = h.ok, h.reason
        else:
            ok, reason = False, problem
        if ok or prev_target is None:
            result = "ok" if ok else "unhealthy"
            if not ok:
                reason = f"{reason}; kept: there is no previous version to return to"
            _step(root, journal, "committed", reason=reason, result=result)
            _finish_commit(root, journal)
            return {"result": result, "version": version, "from": prev_version, "reason": reason}
        _rollback(root, journal, reason, opts)
        record_event(root, "update", version, "rolled_back", reason, id=journal["id"], **{"from": prev_version})
        return {"result": "rolled_back", "version": version, "from": prev_version, "current": prev_version,
                "reason": reason}


def _finish_commit(root: Path, journal: dict[str, Any]) -> None:
    """After "committed": prune old versions and record the event -- idempotent, so resume can redo it
    after a power cut between the journal's commit and the event."""
    version, previous = journal["version"], journal.get("previous")
    if current_target(root, STABLE) != link_target(version):
        point_current(root, link_target(version), checkpoint, point="stable-link-made", name=STABLE)
    _prune(root, {version, Path(previous).name if previous else version})
    if not any(e.get("id") == journal.get("id") for e in read_events(root)):
        record_event(root, "update", version, journal.get("result", "ok"), journal.get("reason"), id=journal["id"],
                     **{"from": journal.get("from")})


def _rollback(root: Path, journal: dict[str, Any], reason: str, opts: Options | None) -> None:
    _step(root, journal, "rolling_back", reason=reason)
    previous = journal.get("previous")
    if current_target(root) != previous:
        point_current(root, previous, checkpoint, point="rollback-link-made")
    if opts is not None:
        _restart(opts)
    version = journal.get("version")
    if version and (previous is None or Path(previous).name != version):
        install_mod.remove(version_dir(root, version))
    shutil.rmtree(root / STAGING, ignore_errors=True)
    _step(root, journal, "rolled_back")


def resume(root: Path) -> dict[str, Any]:
    """Finish an interrupted update from the journal: roll back to the version it replaced.
    Safe to run at every start (ExecStartPre): without an unfinished journal it does nothing, and while
    a live `update apply` holds the lock (it restarts the service after its switch) it leaves that
    update alone instead of rolling it back -- and does not wait, which would deadlock the restart."""
    if not root.exists():
        return {"resumed": False, "current": None}
    try:
        with _locked(root):
            return _resume_locked(root)
    except Busy:
        return {"resumed": False, "current": current_version(root), "busy": True}


def _resume_locked(root: Path) -> dict[str, Any]:
    for name in (CURRENT, STABLE):
        (root / f".{name}.new").unlink(missing_ok=True)
    journal = read_journal(root)
    if journal is not None and journal.get("step") == "committed":
        _finish_commit(root, journal)
    elif journal is not None and journal.get("step") == "rolled_back" and journal.get("id") and \
            not any(e.get("id") == journal["id"] for e in read_events(root)):
        record_event(root, "update", journal.get("version"), "rolled_back", journal.get("reason"),
                     id=journal["id"], **{"from": journal.get("from")})
    if journal is None or journal.get("step") in FINAL:
        shutil.rmtree(root / STAGING, ignore_errors=True)
        return {"resumed": False, "current": current_version(root)}
    step = journal.get("step")
    if step == "unreadable":
        raise UpdateError(N_("{root}: the update journal cannot be read; `current` is left as it is ({value})"),
                          root=root, value=current_version(root))
    previous = journal.get("previous")
    if previous is not None and installed_version(root / previous) is None:
        raise UpdateError(N_("{root}: the version to return to ({previous}) is not a finished install"),
                          root=root, previous=previous)
    reason = f"interrupted at step '{step}'" + (" before the switch" if step in PRE_SWITCH else "")
    _rollback(root, journal, journal.get("reason") or reason, None)
    record_event(root, "resume", journal.get("version"), "rolled_back", reason, id=journal.get("id"),
                 **{"from": journal.get("from")})
    return {"resumed": True, "step": step, "current": current_version(root), "reason": reason}
