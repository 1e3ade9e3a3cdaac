"""A dead unit on the RS485 line: the page and /metrics show it unhealthy with its errors,
while the other units on the same line stay healthy."""

from __future__ import annotations

import re

import msgspec
from status_helpers import GatewayThread, get_json, http_get, make_profile, wait_for

from gateway.i18n import render_data
from gateway.identity import init_identity
from gateway.runtime import Gateway

DEAD = "dryer-meter"


def test_dead_unit_shows_errors(tmp_path):
    prof = make_profile(None)
    devices = [msgspec.structs.replace(d, sim={**d.sim, "dead": True}, timeout_s=0.3) if d.name == DEAD else d
               for d in prof.devices]
    assert any(d.name == DEAD and d.driver == "modbus_rtu" for d in devices), "sim-factory has an RS485 dryer meter"
    prof = msgspec.structs.replace(prof, devices=devices)
    init_identity(tmp_path / "state", None, "sim")
    gt = GatewayThread(Gateway(prof, tmp_path / "state", simulate=True)).start()
    try:
        url = gt.gw.status_server.url
        dev = wait_for(lambda: next(d for d in get_json(url + "/api/status")["devices"]
                                    if d["name"] == DEAD and d["failures"] >= 1), 30, what="a failed poll")
        assert dev["state"] == "unhealthy" and dev["errors"].get("timeout", 0) >= 1
        assert dev["last_error"].startswith("timeout") and dev["last_ok"] is None
        # The same error as data, for the page and `edgeproof status` to show in the reader's language.
        assert render_data(dev["last_error_text"], "en").startswith("timeout: ")
        assert render_data(dev["last_error_text"], "zh-CN").startswith("超时：")
        assert all(p["quality"] == "comm_error" and p["value"] is None for p in dev["points"])
        others = [d for d in get_json(url + "/api/status")["devices"] if d["bus"] == dev["bus"] and d["name"] != DEAD]
        assert others and all(d["state"] == "healthy" for d in others)
        text = http_get(url + "/metrics")[2].decode()
        assert re.search(rf'^edgeproof_device_healthy\{{device="{DEAD}"\}} 0$', text, re.M)
        assert re.search(rf'^edgeproof_device_errors_total\{{device="{DEAD}",kind="timeout"\}} [1-9]\d*$', text, re.M)
        assert re.search(rf'^edgeproof_device_poll_failures_total\{{device="{DEAD}"\}} [1-9]\d*$', text, re.M)
    finally:
        gt.stop()
