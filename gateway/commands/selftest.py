"""`edgeproof selftest`: is this gateway ready to leave on site? A table (or --json) and a
non-zero exit when any check fails, so an installer (or a script) cannot miss it.

Checks: the profile validates; the key exists with mode 0600 and matches identity.json;
the gateway is enrolled; disk space for the store; the clock is synchronised (a Pi has
no RTC); the store passes SQLite's quick_check (``--full``: integrity_check); the
receiver or broker answers; the status page binds a LAN address. Nothing here writes
to the store or prints a secret.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click

from gateway.commands._common import get_state, profile_option, state_option

MIN_FREE_BYTES = 200e6


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""


def check_profile(profile_arg: str | None, state: Path | None = None) -> tuple[Check, Any]:
    from gateway.commands.run import validate_profile
    from gateway.profile import ProfileError, resolve_profile_path

    try:
        path = resolve_profile_path(profile_arg or os.environ.get("EDGEPROOF_PROFILE"))
        prof = validate_profile(path, state)
    except ProfileError as exc:
        return Check("profile", "fail", str(exc), "fix the named key; `edgeproof probe` shows each device"), None
    return Check("profile", "ok", f"{path}: {len(prof.devices)} devices, site {prof.site.id}"), prof


def check_key(state: Path) -> Check:
    from gateway.identity import KEY_FILE, IdentityError, load_identity

    key = state / KEY_FILE
    if not key.exists():
        return Check("key", "fail", f"no key at {key}", "run `edgeproof init`")
    mode = key.stat().st_mode & 0o777
    try:
        ident = load_identity(state)
    except IdentityError as exc:
        return Check("key", "fail", str(exc), f"chmod 600 {key}" if mode & 0o077 else "re-run `edgeproof init` "
                     "on a fresh state directory and enroll again")
    return Check("key", "ok", f"{key} mode {oct(mode)}, key id {ident.kid}, gateway {ident.gateway_id}")


def check_enrollment(state: Path, transport: str | None) -> Check:
    from gateway.identity import IdentityError, load_identity

    try:
        ident = load_identity(state)
    except IdentityError:
        return Check("enrollment", "fail", "no identity", "run `edgeproof init` then `edgeproof enroll`")
    if ident.enterprise_id is None:
        status = "warn" if transport == "none" else "fail"
        return Check("enrollment", status, "not enrolled with a receiver",
                     "run `edgeproof enroll --token TOKEN --receiver URL`")
    url = (ident.enrollment or {}).get("receiver_url")
    return Check("enrollment", "ok", f"enterprise {ident.enterprise_id} at {url}")


def check_disk(state: Path, store_max_mb: float | None) -> Check:
    probe = state if state.exists() else next((p for p in state.parents if p.exists()), Path("/"))
    usage = shutil.disk_usage(probe)
    need = max(MIN_FREE_BYTES, (store_max_mb or 0) * 1e6 * 0.1)
    detail = f"{usage.free / 1e9:.2f} GB free of {usage.total / 1e9:.2f} GB on {probe}"
    if usage.free < need:
        return Check("disk", "fail", detail + f" (need at least {need / 1e6:.0f} MB)",
                     "use a larger SD card / SSD or lower [store] max_mb")
    if store_max_mb and usage.free < store_max_mb * 1e6:
        return Check("disk", "warn", detail + f"; [store] max_mb {store_max_mb:.0f} MB does not fit",
                     "lower [store] max_mb so the cap, not a full disk, decides what is dropped")
    return Check("disk", "ok", detail)


def check_clock() -> Check:
    from gateway.clock import clock_state

    st = clock_state()
    if st.get("implausible"):
        return Check("clock", "fail", "the clock is before 2025: never set (no RTC, no NTP yet)",
                     "connect the network and enable NTP (timedatectl set-ntp true), or fit an RTC")
    if not st.get("synced"):
        return Check("clock", "warn", f"not NTP-synchronised ({st}); batches will say so",
                     "timedatectl set-ntp true; check that UDP 123 or the LAN's NTP server is reachable")
    return Check("clock", "ok", f"synchronised (max error {st.get('maxerror_ms')} ms)")


def check_store(state: Path, profile: Any, full: bool) -> Check:
    path = Path(profile.store.path) if profile else Path("edgeproof.db")
    if not path.is_absolute():
        path = state / path
    if not path.exists():
        return Check("store", "warn", f"{path} does not exist yet (made on the first `edgeproof run`)")
    pragma = "integrity_check" if full else "quick_check"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = [r[0] for r in db.execute(f"PRAGMA {pragma}").fetchall()]
        finally:
            db.close()
    except sqlite3.Error as exc:
        return Check("store", "fail", f"{path}: {exc}", "stop the gateway, move the file aside and start again")
    if rows != ["ok"]:
        return Check("store", "fail", f"{path}: {pragma}: {'; '.join(rows[:3])}",
                     "stop the gateway, back up the file, move it aside; unsent batches are in its outbox")
    return Check("store", "ok", f"{path}: {pragma} ok, {path.stat().st_size / 1e6:.1f} MB")


def check_uplink(state: Path, profile: Any, timeout_s: float = 5.0) -> Check:
    if profile is None:
        return Check("uplink", "warn", "no valid profile: cannot tell where to send")
    up = profile.uplink
    if up.transport == "none":
        return Check("uplink", "warn", "uplink transport is 'none': nothing leaves this gateway")
    from gateway.identity import IdentityError, load_identity

    if up.transport == "mqtt":
        from gateway.uplink.mqtt_probe import probe_broker

        try:
            gateway_id = load_identity(state).gateway_id
        except IdentityError as exc:
            return Check("uplink", "fail", f"no gateway identity to log in to the broker with: {exc}",
                         "run `edgeproof init` first")
        res = probe_broker(up.mqtt, gateway_id, timeout_s)
        return Check("uplink", res.status, res.detail, res.fix)
    url = up.url
    if not url:
        try:
            url = (load_identity(state).enrollment or {}).get("receiver_url")
        except IdentityError:
            url = None
    if not url:
        return Check("uplink", "fail", "no receiver URL ([uplink] url unset and not enrolled)",
                     "enroll, or set [uplink] url")
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/healthz", timeout=timeout_s) as resp:
            code = resp.status
    except urllib.error.HTTPError as exc:
        code = exc.code  # an HTTP answer still proves the receiver is reachable
    except (urllib.error.URLError, OSError) as exc:
        return Check("uplink", "fail", f"receiver {url} unreachable: {getattr(exc, 'reason', exc)}",
                     "check the network, DNS, proxy and the receiver URL")
    return Check("uplink", "ok" if code < 500 else "warn", f"receiver {url} answered HTTP {code}")


def check_status_page(profile: Any) -> Check:
    from gateway.status.server import BindError, parse_bind

    if profile is None:
        return Check("status page", "warn", "no valid profile")
    cfg = profile.status
    if not cfg.enabled:
        return Check("status page", "ok", "disabled")
    try:
        host, port = parse_bind(cfg.bind)
    except BindError as exc:
        return Check("status page", "fail", str(exc), "set [status] bind to the LAN address")
    pw = "password protected" if cfg.password_file else "no password"
    if host in ("0.0.0.0", "::"):
        return Check("status page", "warn", f"listens on every interface ({cfg.bind}), {pw}",
                     "bind the LAN address only, e.g. 192.168.1.20:8080")
    return Check("status page", "ok", f"{cfg.bind}, {pw}")


def check_camera_roles(prof: Any) -> Check:
    """Each counting camera should say what it counts: the receiver compares a line camera with
    the MES and a dispatch camera with ERP shipments, and without ``params.role`` it can only
    guess from the camera's name (docs/cross-verification.md)."""
    if prof is None:
        return Check("camera roles", "warn", "no valid profile")
    cams = [d for d in prof.devices if d.enabled and d.driver == "camera"]
    missing = [d.name for d in cams if d.params.get("role") is None]
    if missing:
        return Check("camera roles", "warn",
                     f"{', '.join(missing)} declare(s) no params.role: the receiver guesses line or dispatch from the "
                     "name", 'add params = { role = "line" } (counts production output) or { role = "dispatch" } '
                     "(counts goods leaving the site) to each")
    return Check("camera roles", "ok", f"{len(cams)} camera(s), each declares what it counts" if cams
                 else "no cameras")


def run_checks(state: Path, profile_arg: str | None, full: bool = False, offline: bool = False) -> list[Check]:
    c_profile, prof = check_profile(profile_arg, state)
    checks = [c_profile, check_key(state),
              check_enrollment(state, prof.uplink.transport if prof else None),
              check_disk(state, prof.store.max_mb if prof else None), check_clock(),
              check_store(state, prof, full)]
    if not offline:
        checks.append(check_uplink(state, prof))
    checks.append(check_status_page(prof))
    checks.append(check_camera_roles(prof))
    return checks


@click.command("selftest")
@state_option
@profile_option
@click.option("--full", is_flag=True, help="PRAGMA integrity_check instead of quick_check (slower on a big store).")
@click.option("--offline", is_flag=True, help="Skip the receiver/broker reachability check.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def command(state_dir: Path | None, profile: str | None, full: bool, offline: bool, as_json: bool) -> None:
    """Check key, enrollment, disk, clock, store, uplink, status page and camera roles; exit 1 if any check fails."""
    state = get_state(state_dir)
    checks = run_checks(state, profile, full, offline)
    ok = not any(c.status == "fail" for c in checks)
    if as_json:
        click.echo(json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}, sort_keys=True))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}[c.status]
            click.echo(f"{mark}  {c.name:<{width}}  {c.detail}")
            if c.fix and c.status != "ok":
                click.echo(f"      {'':<{width}}  -> {c.fix}")
        click.echo("selftest passed" if ok else "selftest FAILED")
    sys.exit(0 if ok else 1)
