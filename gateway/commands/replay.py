"""`edgeproof replay`: recorded history through the gateway's real path, as fast as it can go.

``edgeproof replay --profile P --data DIR [--state S] [--receiver URL] [--speed max]`` replays
a data folder (docs/replay.md) with the replay identity in S (default: <state>/replay) and
prints a JSON summary. ``edgeproof replay generate --scenario NAME ...`` writes a synthetic
factory history in the same folder layout.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import click

from gateway.commands._common import get_profile, profile_option
from gateway.i18n import _, render


@click.group("replay", invoke_without_command=True, help=_(
    "Replay recorded device series and MES/ERP exports under a simulated clock; print a JSON summary."))
@profile_option
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=_("Data folder: <device>.csv per device, exports/<connector>/ for MES/ERP exports."))
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=_("The replay identity's state directory (default: <gateway state>/replay). Never the live one."))
@click.option("--receiver", default=None,
              help=_("Receiver URL (HTTP); 'none' keeps batches in the outbox. Default: the profile's uplink."))
@click.option("--speed", default="max", show_default=True,
              help=_("'max', or simulated seconds per real second (3600 = one hour per second)."))
@click.option("--down-after", "down_after_s", type=float, default=None,
              help=_("Seconds of silence of every device that count as the gateway being down "
                   "(default: max(900, 3 x the slowest cadence))."))
@click.option("--pack-every", "pack_every", default="1d", show_default=True,
              help=_("Simulated time between packing steps (1h packs like a live gateway; 1d makes fewer, "
                   "fuller batches and is about twice as fast)."))
@click.option("--privacy-key", "privacy_key", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help=_("The live gateway's privacy.key, copied (0600) into the replay state so names "
              "get the live gateway's tokens. Refused if the replay state already has another key."))
@click.pass_context
def command(ctx: click.Context, profile: str | None, data_dir: Path | None, state_dir: Path | None,
            receiver: str | None, speed: str, down_after_s: float | None, pack_every: str,
            privacy_key: Path | None) -> None:
    """Replay recorded device series and MES/ERP exports under a simulated clock; print a JSON summary."""
    if ctx.invoked_subcommand is not None:
        return
    from gateway.indicators.windows import parse_duration
    from gateway.logs import setup_logging
    from gateway.replay.data import ReplayDataError, ReplayError
    from gateway.replay.driver import parse_speed
    from gateway.replay.session import default_replay_state, replay
    from gateway.store import StoreLockedError

    if data_dir is None:
        raise click.UsageError(_("--data DIR is required (or a subcommand: generate)"))
    try:
        pace = parse_speed(speed)
    except ValueError as exc:
        raise click.BadParameter(render(exc), param_hint="--speed") from exc
    try:
        pack_s = parse_duration(pack_every)
    except (ValueError, KeyError):
        raise click.BadParameter(_("a duration such as 1h or 1d, not {value}").format(value=repr(pack_every)),
                                 param_hint="--pack-every") from None
    setup_logging(os.environ.get("EDGEPROOF_LOG_LEVEL", "WARNING").upper())
    prof = get_profile(profile)
    state = state_dir or default_replay_state()
    if privacy_key is not None:
        from gateway.privacy.policy import load_privacy
        from gateway.privacy.tokens import TokenKeyError, adopt_key

        try:
            adopt_key(privacy_key, state, load_privacy(prof.privacy).key_file)
        except (TokenKeyError, OSError) as exc:
            raise click.ClickException(_("--privacy-key: {error}").format(error=render(exc))) from exc
    try:
        summary = asyncio.run(replay(prof, data_dir, state, receiver, pace,
                                     down_after_s, pack_s))
    except ReplayDataError as exc:
        raise click.ClickException(_("bad replay data: {error}").format(error=render(exc))) from exc
    except (ReplayError, StoreLockedError) as exc:
        raise click.ClickException(render(exc)) from exc
    for dev, pts in sorted((summary.get("points_without_column") or {}).items()):
        click.echo(_("note: {device}: no column in the data for {points}: not observed, no indicators").format(
            device=dev, points=", ".join(pts)), err=True)
    click.echo(json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False))


@command.command("generate", help=_(
    "Write a synthetic factory history (device CSVs, MES/ERP exports) for hardware_profiles/sim-history."))
@click.option("--scenario", "name", required=True,
              help=_("honest, inflated, drift, collateral_removed, offline, phantom_shipments, idle_claims, "
                   "collateral_steps."))
@click.option("--days", type=click.IntRange(1, 400), default=35, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help=_("Folder to write (must not exist or be empty)."))
@click.option("--start", default=None, help=_("First day, YYYY-MM-DD (default: 2026-09-07, a Monday)."))
@click.option("--interval", "interval_s", type=click.IntRange(10, 3600), default=300, show_default=True,
              help=_("Sampling interval of the device series, seconds."))
@click.option("--plant", type=click.Choice(["basic", "realistic"]), default="basic", show_default=True,
              help=_("realistic: shifts, outages, scale drift and transients, MES differences "
                     "(the calibration plant)."))
@click.option("--size", type=float, default=None,
              help=_("The pattern's size in its unit (docs/replay.md, e.g. 0.15 = +15 % for inflated)."))
@click.option("--onset-day", type=click.IntRange(0, 399), default=None, help=_("Day index the pattern starts."))
@click.option("--packs", type=click.Choice(["uniform", "mixed"]), default="uniform", show_default=True,
              help=_("mixed: the dispatch camera counts cartons of 24/60/200 parts by product."))
@click.option("--finance", is_flag=True,
              help=_("Also write the ERP's receivables and purchases (replay with --profile sim-history-finance); "
                   "always on for slow_payers, order_stall, revenue_drop, concentrated and late_orders."))
def generate(name: str, days: int, seed: int, out: Path, start: str | None, interval_s: int, plant: str,
             size: float | None, onset_day: int | None, packs: str, finance: bool) -> None:
    """Write a synthetic factory history (device CSVs, MES/ERP exports) for hardware_profiles/sim-history."""
    from datetime import date

    from gateway.replay.scenarios import SCENARIOS, ScenarioConfig, write_scenario

    if name not in SCENARIOS:
        raise click.BadParameter(_("one of {choices}").format(choices=sorted(SCENARIOS)), param_hint="--scenario")
    try:
        first = date.fromisoformat(start) if start else None
    except ValueError as exc:
        raise click.BadParameter(_("a date YYYY-MM-DD ({error})").format(error=render(exc)),
                                 param_hint="--start") from exc
    if out.exists() and any(out.iterdir()):
        raise click.ClickException(_("{dir} is not empty: generate into a new folder").format(dir=out))
    try:
        cfg = ScenarioConfig(scenario=name, days=days, seed=seed, interval_s=interval_s, plant=plant, size=size,
                             onset_day=onset_day, packs=packs, finance=finance,
                             **({"start": first} if first else {}))
    except ValueError as exc:
        raise click.BadParameter(render(exc), param_hint="--size") from exc
    meta = write_scenario(cfg, out)
    click.echo(json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False))
