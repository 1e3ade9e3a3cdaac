"""After the receiver or the broker is down for a while, every batch arrives, in order, once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.profile import load_profile
from gateway.runtime import Gateway
from tests.e2e.conftest import PROFILE, mqtt_receiver_and_gateway
from tests.e2e.test_chain_http_mqtt import check_feed
from tests.support.processes import Mosquitto, ReceiverProc


async def run_with_outage(profile, state: Path, down, up, before: float = 2.5, outage: float = 4.0,  # noqa: ANN001
                          after: float = 2.0) -> Gateway:
    gw = Gateway(profile, state, simulate=True)
    await gw.start()
    await asyncio.sleep(before)
    await asyncio.to_thread(down)
    await asyncio.sleep(outage)
    backlog_during_outage = gw.sender.backlog()
    await asyncio.to_thread(up)
    await asyncio.sleep(after)
    await gw.scheduler.stop()
    await asyncio.sleep(profile.indicators.grace_s + 0.1)
    await gw.close_windows_and_pack()
    await gw.stop(drain_s=20)
    assert backlog_during_outage >= 1, "the outage should have left batches waiting"
    assert gw.sender.status.failures >= 1
    return gw


def test_receiver_outage_http(receiver_proc: ReceiverProc, enrolled_state: Path) -> None:
    gw = asyncio.run(run_with_outage(load_profile(PROFILE), enrolled_state, receiver_proc.stop, receiver_proc.start))
    check_feed(receiver_proc, gw)


def test_broker_outage_mqtt(tmp_path: Path, broker: Mosquitto) -> None:
    receiver, state, prof = mqtt_receiver_and_gateway(tmp_path, broker, timeout_s=2.0)
    try:
        gw = asyncio.run(run_with_outage(prof, state, broker.stop, broker.start, after=6.0))
        check_feed(receiver, gw)
    finally:
        receiver.stop()


def test_stop_drains_once_the_broker_is_back(tmp_path: Path, broker: Mosquitto) -> None:
    """A stop that begins while the broker is down keeps retrying for its drain window:
    the broker coming back two seconds into the stop still gets every batch."""
    receiver, state, prof = mqtt_receiver_and_gateway(tmp_path, broker, timeout_s=1.0)

    async def scenario() -> Gateway:
        gw = Gateway(prof, state, simulate=True)
        await gw.start()
        await asyncio.sleep(1.5)
        await asyncio.to_thread(broker.stop)
        await asyncio.sleep(1.5)
        await gw.scheduler.stop()
        await asyncio.sleep(prof.indicators.grace_s + 0.1)
        await gw.close_windows_and_pack()
        assert gw.sender.backlog() >= 1
        loop = asyncio.get_running_loop()
        loop.call_later(2.0, lambda: asyncio.ensure_future(asyncio.to_thread(broker.start)))
        await gw.stop(drain_s=25)
        return gw

    try:
        gw = asyncio.run(scenario())
        check_feed(receiver, gw)
    finally:
        receiver.stop()
