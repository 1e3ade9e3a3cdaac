"""Setting a replay up: the data checked, the replay identity and state checked, then run.

A replay is a separate signed chain from a separate gateway identity enrolled for the same
enterprise (``edgeproof init --state S --gateway-id <site>-history`` then ``enroll``): its
seq, chain head and watermarks never touch the live gateway's. Everything that can refuse
the replay refuses before the store is written or a batch is made. Running the same command
again after the receiver could not be reached sends what waits in the outbox, nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from drivers.support.state import default_state_dir
from gateway.clock import EARLIEST_PLAUSIBLE
from gateway.i18n import N_
from gateway.identity import Identity, IdentityError, load_identity
from gateway.indicators.windows import parse_duration
from gateway.profile.schema import PointDef, Profile
from gateway.replay import declarations
from gateway.replay.data import ReplayData, ReplayError, iso, scan
from gateway.replay.driver import LAST_KEY, Mode, Replayer
from gateway.replay.uplink import RETRY_DELAYS_S
from gateway.runtime import build_drivers, make_transport
from gateway.store import Store, StoreLockedError
from gateway.uplink.transport import Transport

MARKER = "replay.identity"  # meta key: this store belongs to a replay identity


def default_replay_state() -> Path:
    return default_state_dir() / "replay"


async def profile_points(profile: Profile, state_dir: Path) -> dict[str, list[PointDef]]:
    """Each enabled device's decoded points, from its real driver (constructed, never opened)."""
    drivers, _buses, _stoppers, _emulators = await build_drivers(profile, False, state_dir)
    return {d.device.name: list(d.points()) for d in drivers}  # type: ignore[misc]


def check_data(profile: Profile, data_dir: Path, points: dict[str, list[PointDef]],
               down_after_s: float | None = None) -> ReplayData:
    folders = [c["name"] for c in profile.connectors if c.get("kind") == "folder"]
    data = scan(data_dir, {n: [p.name for p in pts] for n, pts in points.items()}, folders, down_after_s)
    if (data_dir / declarations.FILE).is_file():  # plain dates in it are the site's days
        data.declarations = declarations.read(data_dir / declarations.FILE, data.end, ZoneInfo(profile.site.timezone))
    if profile.consent and data.start < EARLIEST_PLAUSIBLE:
        # The consent gate reads such a time as a Pi's unset clock and packs nothing.
        first = min(data.devices.values(), key=lambda f: f.first)
        raise ReplayError(N_("{path}: the data starts at {value}, before {value2}: the gateway treats earlier times "
                             "as an unset clock and would sign nothing"),
                          path=first.path, value=iso(first.first), value2=iso(EARLIEST_PLAUSIBLE))
    return data


def open_state(profile: Profile, state_dir: Path, data: ReplayData) -> tuple[Store, Identity, Mode]:
    """The replay identity and its store, refused if they are a live gateway's or if the data
    overlaps history this identity already replayed. The mode: ``new`` data; ``resend``, this
    very data was replayed completely before, so only its undelivered batches are sent;
    ``resume``, a replay of this very data stopped part-way (killed, power cut) and goes on
    where its store says it stopped, as a restarted gateway does."""
    if state_dir.resolve() == default_state_dir().resolve():
        raise ReplayError(N_("{state_dir} is the live gateway's state: a replay needs its own identity (default "
                             "{value}); see docs/replay.md"), state_dir=state_dir, value=default_replay_state())
    hint = (f"create the replay identity first: edgeproof init --state {state_dir} --gateway-id "
            f"{profile.site.id}-history, then edgeproof enroll --state {state_dir} --token ... --receiver ...")
    try:
        identity = load_identity(state_dir)
    except (IdentityError, OSError) as exc:
        raise ReplayError(N_("{error}; {hint}"), error=exc, hint=hint) from exc
    if identity.enterprise_id is None:
        raise ReplayError(N_("replay identity {gateway_id} is not enrolled; {hint}"),
                          gateway_id=identity.gateway_id, hint=hint)
    p = Path(profile.store.path)
    store = Store(p if p.is_absolute() else state_dir / p, profile.store.synchronous)
    try:
        store.acquire_exclusive()
        if store.outbox_head() > 0 and store.meta_get(MARKER) is None:
            raise ReplayError(N_("the store in {state_dir} holds batches of a live gateway: a replay needs its own "
                                 "identity and state; {hint}"), state_dir=state_dir, hint=hint)
        last = json.loads(store.meta_get(LAST_KEY) or "null")
        if last and last.get("data_sha256") == data.sha256:
            return store, identity, "resend" if last.get("completed") else "resume"
        for w in profile.indicators.windows:
            wm = store.meta_get(f"ind.wm.{parse_duration(w)}")
            if wm is not None and data.start < int(wm):
                raise ReplayError(N_("the data starts at {value}, but this replay identity already replayed history "
                                     "up to {value2}: replay only later data into {state_dir}, or use a new replay "
                                     "identity for an earlier period"),
                                  value=iso(data.start), value2=iso(int(wm)), state_dir=state_dir)
        store.meta_set(MARKER, identity.gateway_id)
    except (ReplayError, StoreLockedError):
        store.close()
        raise
    return store, identity, "new"


def transport_for(profile: Profile, identity: Identity, receiver: str | None) -> Transport | None:
    """``--receiver URL`` (HTTP), ``--receiver none`` (batches stay in the outbox), or the
    profile's uplink (its URL or the receiver the identity enrolled with)."""
    if receiver == "none":
        return None
    if receiver:
        from gateway.uplink.http import HttpTransport

        return HttpTransport(receiver, profile.uplink.timeout_s)
    try:
        return make_transport(profile, identity)
    except RuntimeError as exc:
        raise ReplayError(str(exc)) from exc


async def replay(profile: Profile, data_dir: Path, state_dir: Path, receiver: str | None = None,
                 speed: float | None = None, down_after_s: float | None = None,
                 pack_every_s: float | None = None,
                 retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S) -> dict[str, Any]:
    """Validate everything, then run the replay; returns the summary."""
    points = await profile_points(profile, state_dir)
    data = check_data(profile, data_dir, points, down_after_s)
    store, identity, mode = open_state(profile, state_dir, data)
    transport = None
    try:
        transport = transport_for(profile, identity, receiver)
        return await Replayer(profile, data, points, store, identity, state_dir, transport, speed,
                              pack_every_s, retry_delays_s).run(mode)
    finally:
        if transport is not None:
            await transport.close()
        store.close()
