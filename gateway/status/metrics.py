"""Prometheus text exposition (format 0.0.4), built from the same status document as the page.

Hand-written rather than prometheus_client: a dozen metric families do not justify a
dependency on a Pi, and building from the status dict keeps page and metrics in step.
"""

from __future__ import annotations

import math
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _esc(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(v: float | int | bool) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("+Inf" if v > 0 else "-Inf")
    return repr(float(v)) if isinstance(v, float) else str(v)


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.seen: set[str] = set()

    def add(self, name: str, kind: str, help_: str, value: float | int | bool | None,
            labels: dict[str, Any] | None = None) -> None:
        if value is None:
            return
        if name not in self.seen:
            self.seen.add(name)
            self.lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
        lab = ""
        if labels:
            lab = "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items()) + "}"
        self.lines.append(f"{name}{lab} {_num(value)}")


def render(st: dict[str, Any]) -> str:
    o = _Out()
    ident = st["identity"]
    o.add("edgeproof_info", "gauge", "Gateway identity (value is always 1).", 1,
          {"gateway_id": ident["gateway_id"], "site": st["site"]["id"], "version": st["version"],
           "kid": ident["kid"]})
    o.add("edgeproof_uptime_seconds", "gauge", "Seconds since the gateway process started.", st["uptime_s"])
    o.add("edgeproof_boot_count", "counter", "Gateway starts recorded in the store.", st["boot"])
    o.add("edgeproof_clock_synced", "gauge", "1 if the kernel clock is NTP-synchronised.",
          bool(st["clock"].get("synced")))
    devices = st["devices"]
    for d in devices:
        o.add("edgeproof_device_polls_total", "counter", "Polls attempted per device.", d["polls"],
              {"device": d["name"]})
    for d in devices:
        o.add("edgeproof_device_poll_failures_total", "counter", "Failed polls per device.", d["failures"],
              {"device": d["name"]})
    for d in devices:
        for kind, n in sorted(d["errors"].items()):
            o.add("edgeproof_device_errors_total", "counter", "Driver errors per device and kind "
                  "(timeout, crc, exception, ...).", n, {"device": d["name"], "kind": kind})
    for d in devices:
        o.add("edgeproof_device_healthy", "gauge", "1 if the device's last poll succeeded.",
              d["state"] == "healthy", {"device": d["name"]})
    for d in devices:
        if d["latency_ms"] is not None:
            o.add("edgeproof_device_read_latency_seconds", "gauge", "Duration of the last successful read.",
                  d["latency_ms"] / 1000, {"device": d["name"]})
    s = st["store"]
    o.add("edgeproof_store_size_bytes", "gauge", "Store file size (database + WAL).", s["size_bytes"])
    o.add("edgeproof_store_max_bytes", "gauge", "Configured size cap of the store.", s["max_bytes"])
    o.add("edgeproof_store_readings", "gauge", "Raw readings held (approximate).", s["readings_approx"])
    o.add("edgeproof_store_days_until_full", "gauge", "Days until the size cap at the current rate.",
          s["days_until_full"])
    o.add("edgeproof_indicators_unbatched", "gauge", "Indicators waiting to be packed.", s["indicators_unbatched"])
    for kind, n in sorted(s["loss"].items()):
        o.add("edgeproof_loss_total", "counter", "Loss counters carried in every batch.", n, {"kind": kind})
    u = st["uplink"]
    o.add("edgeproof_outbox_head_seq", "gauge", "Sequence number of the newest signed batch.", u["head_seq"])
    o.add("edgeproof_uplink_acked_seq", "gauge", "Newest batch acknowledged by the receiver.", u["acked_seq"])
    o.add("edgeproof_uplink_backlog_batches", "gauge", "Signed batches not yet acknowledged.", u["backlog"])
    o.add("edgeproof_uplink_failures_total", "counter", "Failed delivery attempts.", u.get("failures", 0))
    o.add("edgeproof_uplink_last_ack_age_seconds", "gauge", "Seconds since the last acknowledgement.",
          u.get("last_ack_age_s"))
    return "\n".join(o.lines) + "\n"
