"""Small persisted counters for drivers whose totals live in the gateway, not the device.

A pulse counter's total and a geofence's exit count exist only in the gateway: losing
them on a restart would reset a meter. Each is one small JSON file in the state
directory, replaced atomically (write, fsync, rename) so a power cut leaves the old or
the new value, never a torn file. A corrupt file is an error, not a silent reset.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from drivers.support.base import DriverError
from drivers.support.messages import N_


def default_state_dir() -> Path:
    """``$EDGEPROOF_STATE``, else /var/lib/edgeproof if writable, else ~/.local/state/edgeproof
    (the same order as the gateway's own state directory)."""
    env = os.environ.get("EDGEPROOF_STATE")
    if env:
        return Path(env)
    system = Path("/var/lib/edgeproof")
    if system.exists() and os.access(system, os.W_OK):
        return system
    return Path.home() / ".local" / "state" / "edgeproof"


class CounterState:
    """One persisted integer under ``key`` in a JSON file."""

    def __init__(self, path: Path, key: str = "count") -> None:
        self.path = path
        self.key = key
        self.saved = 0
        try:
            self.saved = int(json.loads(path.read_text())[key])
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError) as exc:
            raise DriverError("io", N_("state file {path} is corrupt ({error}); fix or remove it"),
                                    path=path, error=exc) from exc

    def save(self, value: int) -> None:
        if value == self.saved:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            json.dump({self.key: value, "updated": time.time()}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self.saved = value
