"""`edgeproof run`: the gateway service (systemd runs this).

SIGTERM/SIGINT stop it (draining the uplink for a few seconds). SIGHUP (systemd's
``ExecReload``) re-reads the profile file and swaps the running gateway for one built
from it, but only if the new profile validates: a typo made while editing the profile
is logged with its file, key and expectation, and the running profile keeps going.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

import click

from gateway.commands._common import get_state, profile_option, state_option
from gateway.i18n import N_, _, render, use_profile_locale

log = logging.getLogger("edgeproof.run")

# Exit status when the gateway cannot start because it was never initialised or enrolled (as
# click's usage errors): systemd's Restart=always brings it back every RestartSec, so once the
# installer has enrolled, the service starts by itself; each attempt logs the one line.
NOT_READY_EXIT = 2


def not_ready(state_dir: Path, profile: Any) -> str | None:
    """Why this gateway cannot start yet (one line naming what to run), or None when it can.

    An uplink needs an enterprise to sign for: a gateway with no key, or with a key but no
    enrollment (and no ``uplink.transport = "none"``), would poll and never sign a batch, so it
    stops here instead of failing later with a traceback (docs/installers.md, section 7)."""
    from gateway.identity import ENROLLMENT_FILE, has_key

    if not has_key(state_dir):
        return _("this gateway has no key in {state}: run `edgeproof init --state {state}` first, "
                 "then `edgeproof enroll`").format(state=state_dir)
    if profile.uplink.transport != "none" and not (state_dir / ENROLLMENT_FILE).exists():
        return _("this gateway is not enrolled with a receiver: run `edgeproof enroll --state {state} "
                 "--receiver URL --token TOKEN` (the receiver's operator issues the token with "
                 "`edgeproof cloud token --enterprise ID`)").format(state=state_dir)
    return None


def validate_profile(path: Path, state_dir: Path | None = None) -> Any:
    """Load a profile and check what the schema cannot: the sections other subsystems own
    (consent, privacy, connectors, shifts, collateral: the checks the gateway runs at
    start), the status bind and password file. Raises ProfileError naming the file, key
    and expectation."""
    from gateway.consent.policy import load_consent
    from gateway.profile import ProfileError, load_profile

    profile = load_profile(path)  # also checks the sections of consent's neighbours
    if profile.consent:
        load_consent(profile.consent, state_dir, str(path))
    if profile.status.enabled:  # the status server's code is loaded only when it will run
        from gateway.status.auth import BasicAuth, PasswordFileError
        from gateway.status.server import BindError, parse_bind

        try:
            parse_bind(profile.status.bind)
        except BindError as exc:
            raise ProfileError(path, "status.bind", N_("{error}"), error=exc) from exc
        if profile.status.password_file:
            try:
                BasicAuth(Path(profile.status.password_file))
            except PasswordFileError as exc:
                raise ProfileError(path, "status.password_file", N_("{error}"), error=exc) from exc
    return profile


@click.command("run", help=_("Poll devices, compute indicators, sign and send batches until stopped (SIGHUP "
                             "reloads the profile)."))
@state_option
@profile_option
@click.option("--simulate/--no-simulate", default=None,
              help=_("Run devices against their emulated twins (default: the profile's site.simulated)."))
def command(state_dir: Path | None, profile: str | None, simulate: bool | None) -> None:
    """Poll devices, compute indicators, sign and send batches until stopped (SIGHUP reloads the profile)."""
    from gateway.identity import IdentityError
    from gateway.logs import setup_logging
    from gateway.privacy.tokens import TokenKeyError
    from gateway.profile import ProfileError, resolve_profile_path
    from gateway.runtime import Gateway
    from gateway.store import StoreLockedError

    setup_logging(os.environ.get("EDGEPROOF_LOG_LEVEL", "INFO").upper())
    state = get_state(state_dir)
    try:
        path = resolve_profile_path(profile or os.environ.get("EDGEPROOF_PROFILE"))
        current = validate_profile(path, state)
    except ProfileError as exc:
        raise click.ClickException(_("profile error: {error}").format(error=render(exc))) from exc
    use_profile_locale(current.site.locale)
    problem = not_ready(state, current)
    if problem:
        click.echo(_("edgeproof run: {problem}").format(problem=problem), err=True)
        raise SystemExit(NOT_READY_EXIT)

    async def reload(gw: Gateway) -> Gateway:
        nonlocal current
        try:
            new = await asyncio.to_thread(validate_profile, path, state)
        except ProfileError as exc:
            log.error("profile reload refused; the running profile stays in force",
                      extra={"file": exc.file, "key": exc.key, "expected": exc.expected})
            return gw
        if new == current:
            log.info("profile unchanged; nothing to reload", extra={"file": str(path)})
            return gw
        await gw.stop(drain_s=5.0)
        fresh = Gateway(new, state, simulate=simulate)
        try:
            await fresh.start()
        except Exception as exc:  # noqa: BLE001 - fall back to the profile that was running
            log.exception("new profile failed to start; restarting the previous one", extra={"error": str(exc)})
            await _safe_stop(fresh)
            old = Gateway(current, state, simulate=simulate)
            await old.start()
            return old
        current = new
        log.info("profile reloaded", extra={"file": str(path), "devices": len(new.devices)})
        return fresh

    async def main() -> None:
        stop = asyncio.Event()
        hup = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, hup.set)
        gw = Gateway(current, state, simulate=simulate)
        await gw.start()
        while not stop.is_set():
            waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(hup.wait())]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
            if hup.is_set() and not stop.is_set():
                hup.clear()
                log.info("SIGHUP: validating the profile before reloading", extra={"file": str(path)})
                gw = await reload(gw)
        await gw.stop(drain_s=5.0)

    try:
        asyncio.run(main())
    except (StoreLockedError, IdentityError, TokenKeyError, ProfileError) as exc:
        # An installer's mistake (a key file others can read, ...) is one line, not a traceback.
        raise click.ClickException(render(exc)) from exc


async def _safe_stop(gw: Any) -> None:
    try:
        await gw.stop()
    except Exception:  # noqa: BLE001 - a half-started gateway may lack parts; the store lock must go
        store = getattr(gw, "store", None)
        if store is not None:
            store.close()
