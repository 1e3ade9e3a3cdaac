"""Fixtures: one receiver and one running sim-factory gateway per module (they take a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest
from status_helpers import GatewayThread, Receiver, enrolled_state, get_json, make_profile, wait_for

from gateway.runtime import Gateway


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    r = Receiver(tmp_path_factory.mktemp("receiver"))
    yield r
    r.stop()


@pytest.fixture(scope="module")
def live(receiver, tmp_path_factory):
    """A real gateway (sim-factory twins, HTTP uplink to the real receiver, status page on a free
    port) that has polled, made indicators and had at least one batch acknowledged."""
    state: Path = tmp_path_factory.mktemp("gw-state")
    token = enrolled_state(receiver, state)
    gt = GatewayThread(Gateway(make_profile(receiver.url), state, simulate=True)).start()
    url = gt.gw.status_server.url
    try:
        wait_for(lambda: get_json(url + "/api/status")["uplink"]["acked_seq"] >= 1, 60, what="an acknowledged batch")
        wait_for(lambda: all(d["polls"] >= 3 for d in get_json(url + "/api/status")["devices"]
                             if d["name"].startswith("press-")), 30, what="three polls per press meter")
        yield {"gt": gt, "gw": gt.gw, "url": url, "state": state, "token": token}
    finally:
        gt.stop()
