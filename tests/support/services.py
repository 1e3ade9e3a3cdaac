"""System services the suite drives for real (Mosquitto, PostgreSQL, MariaDB, Chromium, socat).

On a developer's machine a missing one skips its tests with the reason. In CI (``CI`` set) or
with ``EDGEPROOF_REQUIRE_SERVICES=1`` (.ci/run sets it) a missing one FAILS them, naming the
Debian package, so a broken scripts/sysdeps.sh cannot turn into a quietly green run.
"""

from __future__ import annotations

import os

import pytest


def services_required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("EDGEPROOF_REQUIRE_SERVICES") == "1"


def _message(what: str, package: str) -> str:
    return f"{what} is not installed: install the Debian package '{package}' (bash scripts/sysdeps.sh)"


def missing_service(what: str, package: str) -> None:
    """Inside a test or fixture: skip, or fail when services are required."""
    msg = _message(what, package)
    if services_required():
        pytest.fail(msg + " -- required here (CI / EDGEPROOF_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(msg)


def require_for_module(present: bool, what: str, package: str) -> None:
    """At a test module's top level: skip the module, or make its collection fail."""
    if present:
        return
    msg = _message(what, package)
    if services_required():
        pytest.fail(msg + " -- required here (CI / EDGEPROOF_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(msg, allow_module_level=True)
