"""`edgeproof run`: the gateway service (systemd runs this)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from gateway.commands._common import get_profile, get_state, profile_option, state_option


@click.command("run")
@state_option
@profile_option
@click.option("--simulate/--no-simulate", default=None,
              help="Run devices against their emulated twins (default: the profile's site.simulated).")
def command(state_dir: Path | None, profile: str | None, simulate: bool | None) -> None:
    """Poll devices, compute indicators, sign and send batches until stopped."""
    from gateway.identity import IdentityError
    from gateway.logs import setup_logging
    from gateway.runtime import Gateway
    from gateway.store import StoreLockedError

    setup_logging()
    gw = Gateway(get_profile(profile), get_state(state_dir), simulate=simulate)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await gw.start()
        await stop.wait()
        await gw.stop(drain_s=5.0)

    try:
        asyncio.run(main())
    except (StoreLockedError, IdentityError) as exc:
        raise click.ClickException(str(exc)) from exc
