"""Clock trust: a Pi has no RTC and boots in 1970 until NTP answers; every batch says so."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import time
from collections.abc import Iterator
from typing import Any

TIME_ERROR = 5
EARLIEST_PLAUSIBLE = 1735689600  # 2025-01-01: a clock before this is certainly unset
# Set while `edgeproof replay` runs recorded history under a simulated clock: the kernel's
# NTP state says nothing about recorded timestamps, so batches report this state instead.
_reported: dict[str, Any] | None = None


@contextlib.contextmanager
def reported_clock(state: dict[str, Any]) -> Iterator[None]:
    """Report ``state`` from clock_state() inside the block (replay only, see gateway/replay)."""
    global _reported
    before, _reported = _reported, dict(state)
    try:
        yield
    finally:
        _reported = before


class _Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time_sec", ctypes.c_long), ("time_usec", ctypes.c_long), ("tick", ctypes.c_long),
                ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long), ("shift", ctypes.c_int),
                ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
                ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
                ("pad", ctypes.c_int * 11)]


@functools.cache
def _libc() -> ctypes.CDLL:
    """Loaded once: find_library runs `ldconfig -p` in a subprocess, far too dear per call."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("c") or "libc.so.6", use_errno=True)


def clock_state() -> dict[str, Any]:
    """{'synced': bool, 'source': 'kernel', 'maxerror_ms': ...} from adjtimex(2), read-only."""
    if _reported is not None:
        return dict(_reported)
    now = time.time()
    state: dict[str, Any] = {"synced": False, "source": "unknown"}
    try:
        libc = _libc()
        tx = _Timex()
        rc = libc.adjtimex(ctypes.byref(tx))
        if rc >= 0:
            state = {"synced": rc != TIME_ERROR, "source": "kernel", "maxerror_ms": round(tx.maxerror / 1000, 3)}
    except (OSError, AttributeError):
        pass
    if now < EARLIEST_PLAUSIBLE:
        state.update(synced=False, implausible=True)
    return state
