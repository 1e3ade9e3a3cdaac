"""The health check after a switch: the new version's ``edgeproof selftest`` passes, and the
gateway gets a batch acknowledged by its receiver within a deadline. A version that cannot do
both is rolled back by the updater, and the reason recorded.

The acknowledgement is read from the gateway's own store (the ``acks`` table the uplink updates
when the receiver acknowledges): an ack later than the switch means the new version signed,
sent and was accepted. ``ack_probe`` is injectable, and ``ack_deadline_s=0`` skips the ack half
for a gateway that has no uplink configured.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.store import outbox as outbox_db
from gateway.store.readonly import DatabaseError, ReadOnlyStore

STORE_FILE = "edgeproof.db"


@dataclass
class Health:
    ok: bool
    reason: str


def last_ack_time(state: Path) -> float | None:
    """When the receiver last acknowledged a batch of this gateway (None: never, or no store yet)."""
    path = state / STORE_FILE
    if not path.exists():
        return None
    try:
        with ReadOnlyStore(path, timeout=2) as ro:  # read-only: the gateway may be writing it
            return outbox_db.last_ack_at(ro)
    except DatabaseError:
        return None


def run_selftest(version_dir: Path, state: Path, timeout_s: float, extra_args: tuple[str, ...] = ()) -> Health:
    exe = version_dir / "bin" / "edgeproof"
    try:
        run = subprocess.run([str(exe), "selftest", "--state", str(state), *extra_args], capture_output=True,
                             text=True, timeout=timeout_s, env={**os.environ, "EDGEPROOF_STATE": str(state)})
    except subprocess.TimeoutExpired:
        return Health(False, f"selftest of {version_dir.name} did not finish within {timeout_s:g} s")
    except OSError as exc:
        return Health(False, f"selftest of {version_dir.name} could not start: {exc}")
    if run.returncode != 0:
        out = " | ".join((run.stdout + run.stderr).strip().splitlines()[-4:])
        return Health(False, f"selftest of {version_dir.name} failed (exit {run.returncode}): {out}")
    return Health(True, "selftest passed")


def check(version_dir: Path, state: Path, *, since: float, ack_deadline_s: float,
          selftest_timeout_s: float = 300, selftest_args: tuple[str, ...] = (),
          ack_probe: Callable[[], float | None] | None = None, poll_s: float = 0.2) -> Health:
    """Selftest, then wait until an ack newer than ``since`` (epoch seconds) or the deadline."""
    health = run_selftest(version_dir, state, selftest_timeout_s, selftest_args)
    if not health.ok or ack_deadline_s <= 0:
        return health if not health.ok else Health(True, "selftest passed; ack check disabled")
    probe = ack_probe or (lambda: last_ack_time(state))
    deadline = time.monotonic() + ack_deadline_s
    while True:
        at = probe()
        if at is not None and at >= since:
            return Health(True, "selftest passed; a batch was acknowledged")
        if time.monotonic() >= deadline:
            return Health(False, f"no batch acknowledged within {ack_deadline_s:g} s of the switch")
        time.sleep(poll_s)
