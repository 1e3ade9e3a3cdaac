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
import sys
import unicodedata
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click

from gateway.commands._common import get_state, profile_option, state_option
from gateway.i18n import N_, _, render, use_profile_locale

MIN_FREE_BYTES = 200e6
# Check names are stable keys (--json); these are how they read in the table (``_(name)``).
CHECK_NAMES = (N_("profile"), N_("key"), N_("enrollment"), N_("disk"), N_("clock"), N_("store"), N_("uplink"),
               N_("status page"), N_("camera roles"))


def _width(text: str) -> int:
    """Terminal columns: a CJK character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


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
        return Check("profile", "fail", render(exc), _("fix the named key; `edgeproof probe` shows each device")), None
    use_profile_locale(prof.site.locale)  # the site's language from here on, unless the environment names one
    return Check("profile", "ok", _("{path}: {n} devices, site {site}").format(path=path, n=len(prof.devices),
                                                                        site=prof.site.id)), prof


def check_key(state: Path) -> Check:
    from gateway.identity import KEY_FILE, IdentityError, load_identity, tpm_identity

    key = state / KEY_FILE
    tpm = tpm_identity(state)
    if tpm is not None:  # the key lives in a TPM: it must answer and hold the key identity.json names
        try:
            ident = load_identity(state)
        except IdentityError as exc:
            return Check("key", "fail", render(exc), _("check the TPM (tpm2_getrandom --hex 8) and --tpm-tcti"))
        ident.signer.close()
        return Check("key", "ok", _("TPM key at handle {handle} via {tcti}, key id {kid}, gateway {gateway}").format(
            handle=tpm.get("tpm_handle"), tcti=tpm.get("tcti"), kid=ident.kid, gateway=ident.gateway_id))
    if not key.exists():
        return Check("key", "fail", _("no key at {path}").format(path=key), _("run `edgeproof init`"))
    mode = key.stat().st_mode & 0o777
    try:
        ident = load_identity(state)
    except IdentityError as exc:
        return Check("key", "fail", render(exc), f"chmod 600 {key}" if mode & 0o077 else _(
                     "re-run `edgeproof init` on a fresh state directory and enroll again"))
    return Check("key", "ok", _("{path} mode {mode}, key id {kid}, gateway {gateway}").format(
        path=key, mode=oct(mode), kid=ident.kid, gateway=ident.gateway_id))


def check_enrollment(state: Path, transport: str | None) -> Check:
    from gateway.identity import IdentityError, load_identity

    try:
        ident = load_identity(state)
    except IdentityError:
        return Check("enrollment", "fail", _("no identity"), _("run `edgeproof init` then `edgeproof enroll`"))
    if ident.enterprise_id is None:
        status = "warn" if transport == "none" else "fail"
        return Check("enrollment", status, _("not enrolled with a receiver"),
                     _("run `edgeproof enroll --token TOKEN --receiver URL`"))
    url = (ident.enrollment or {}).get("receiver_url")
    return Check("enrollment", "ok",
                 _("enterprise {enterprise} at {url}").format(enterprise=ident.enterprise_id, url=url))


def check_disk(state: Path, store_max_mb: float | None) -> Check:
    probe = state if state.exists() else next((p for p in state.parents if p.exists()), Path("/"))
    usage = shutil.disk_usage(probe)
    need = max(MIN_FREE_BYTES, (store_max_mb or 0) * 1e6 * 0.1)
    detail = _("{free} GB free of {total} GB on {path}").format(
        free=f"{usage.free / 1e9:.2f}", total=f"{usage.total / 1e9:.2f}", path=probe)
    if usage.free < need:
        return Check("disk", "fail", detail + _(" (need at least {mb} MB)").format(mb=f"{need / 1e6:.0f}"),
                     _("use a larger SD card / SSD or lower [store] max_mb"))
    if store_max_mb and usage.free < store_max_mb * 1e6:
        return Check("disk", "warn",
                     detail + _("; [store] max_mb {mb} MB does not fit").format(mb=f"{store_max_mb:.0f}"),
                     _("lower [store] max_mb so the cap, not a full disk, decides what is dropped"))
    return Check("disk", "ok", detail)


def check_clock() -> Check:
    from gateway.clock import clock_state

    st = clock_state()
    if st.get("implausible"):
        return Check("clock", "fail", _("the clock is before 2025: never set (no RTC, no NTP yet)"),
                     _("connect the network and enable NTP (timedatectl set-ntp true), or fit an RTC"))
    if not st.get("synced"):
        return Check("clock", "warn", _("not NTP-synchronised ({state}); batches will say so").format(state=st),
                     _("timedatectl set-ntp true; check that UDP 123 or the LAN's NTP server is reachable"))
    return Check("clock", "ok", _("synchronised (max error {ms} ms)").format(ms=st.get("maxerror_ms")))


def check_store(state: Path, profile: Any, full: bool) -> Check:
    path = Path(profile.store.path) if profile else Path("edgeproof.db")
    if not path.is_absolute():
        path = state / path
    if not path.exists():
        return Check("store", "warn",
                     _("{path} does not exist yet (made on the first `edgeproof run`)").format(path=path))
    from gateway.store.readonly import DatabaseError, integrity_check

    pragma = "integrity_check" if full else "quick_check"
    try:
        rows = integrity_check(path, full)
    except DatabaseError as exc:
        return Check("store", "fail", f"{path}: {exc}", _("stop the gateway, move the file aside and start again"))
    if rows != ["ok"]:
        return Check("store", "fail", f"{path}: {pragma}: {'; '.join(rows[:3])}",
                     _("stop the gateway, back up the file, move it aside; unsent batches are in its outbox"))
    return Check("store", "ok", _("{path}: {check} ok, {mb} MB").format(path=path, check=pragma,
                                                                  mb=f"{path.stat().st_size / 1e6:.1f}"))


def check_uplink(state: Path, profile: Any, timeout_s: float = 5.0) -> Check:
    if profile is None:
        return Check("uplink", "warn", _("no valid profile: cannot tell where to send"))
    up = profile.uplink
    if up.transport == "none":
        return Check("uplink", "warn", _("uplink transport is 'none': nothing leaves this gateway"))
    from gateway.identity import IdentityError, load_identity

    if up.transport == "mqtt":
        from gateway.uplink.mqtt_probe import probe_broker

        try:
            gateway_id = load_identity(state).gateway_id
        except IdentityError as exc:
            return Check("uplink", "fail", _("no gateway identity to log in to the broker with: {error}").format(
                error=render(exc)), _("run `edgeproof init` first"))
        res = probe_broker(up.mqtt, gateway_id, timeout_s)
        return Check("uplink", res.status, res.detail, res.fix)
    url = up.url
    if not url:
        try:
            url = (load_identity(state).enrollment or {}).get("receiver_url")
        except IdentityError:
            url = None
    if not url:
        return Check("uplink", "fail", _("no receiver URL ([uplink] url unset and not enrolled)"),
                     _("enroll, or set [uplink] url"))
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/healthz", timeout=timeout_s) as resp:
            code = resp.status
    except urllib.error.HTTPError as exc:
        code = exc.code  # an HTTP answer still proves the receiver is reachable
    except (urllib.error.URLError, OSError) as exc:
        return Check("uplink", "fail", _("receiver {url} unreachable: {reason}").format(
            url=url, reason=getattr(exc, "reason", exc)), _("check the network, DNS, proxy and the receiver URL"))
    return Check("uplink", "ok" if code < 500 else "warn",
                 _("receiver {url} answered HTTP {code}").format(url=url, code=code))


def check_status_page(profile: Any) -> Check:
    from gateway.status.server import BindError, parse_bind

    if profile is None:
        return Check("status page", "warn", _("no valid profile"))
    cfg = profile.status
    if not cfg.enabled:
        return Check("status page", "ok", _("disabled"))
    try:
        host, port = parse_bind(cfg.bind)
    except BindError as exc:
        return Check("status page", "fail", render(exc), _("set [status] bind to the LAN address"))
    pw = _("password protected") if cfg.password_file else _("no password")
    if host in ("0.0.0.0", "::"):
        return Check("status page", "warn", _("listens on every interface ({bind}), {password}").format(
            bind=cfg.bind, password=pw), _("bind the LAN address only, e.g. 192.168.1.20:8080"))
    return Check("status page", "ok", f"{cfg.bind}, {pw}")


def check_camera_roles(prof: Any) -> Check:
    """Each counting camera should say what it counts: the receiver compares a line camera with
    the MES and a dispatch camera with ERP shipments, and without ``params.role`` it can only
    guess from the camera's name (docs/cross-verification.md)."""
    if prof is None:
        return Check("camera roles", "warn", _("no valid profile"))
    cams = [d for d in prof.devices if d.enabled and d.driver == "camera"]
    missing = [d.name for d in cams if d.params.get("role") is None]
    if missing:
        return Check("camera roles", "warn",
                     _("{cameras} declare(s) no params.role: the receiver guesses line or dispatch from the name")
                     .format(cameras=", ".join(missing)),
                     _('add params = {{ role = "line" }} (counts production output) or {{ role = "dispatch" }} '
                       "(counts goods leaving the site) to each").format())
    return Check("camera roles", "ok", _("{n} camera(s), each declares what it counts").format(n=len(cams)) if cams
                 else _("no cameras"))


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


@click.command("selftest", help=_("Check key, enrollment, disk, clock, store, uplink, status page and camera "
                                  "roles; exit 1 if any check fails."))
@state_option
@profile_option
@click.option("--full", is_flag=True, help=_("PRAGMA integrity_check instead of quick_check (slower on a big "
                                             "store)."))
@click.option("--offline", is_flag=True, help=_("Skip the receiver/broker reachability check."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the checks as JSON."))
def command(state_dir: Path | None, profile: str | None, full: bool, offline: bool, as_json: bool) -> None:
    """Check key, enrollment, disk, clock, store, uplink, status page and camera roles; exit 1 if any check fails."""
    state = get_state(state_dir)
    checks = run_checks(state, profile, full, offline)
    ok = not any(c.status == "fail" for c in checks)
    if as_json:
        click.echo(json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}, sort_keys=True))
    else:
        names = {c.name: _(c.name) for c in checks}
        width = max(_width(n) for n in names.values())
        for c in checks:
            mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}[c.status]
            name = names[c.name] + " " * (width - _width(names[c.name]))
            click.echo(f"{mark}  {name}  {c.detail}")
            if c.fix and c.status != "ok":
                click.echo(f"      {'':<{width}}  -> {c.fix}")
        click.echo(_("selftest passed") if ok else _("selftest FAILED"))
    sys.exit(0 if ok else 1)
