"""Fleet list and fleet check at scale: N enrolled gateways, one signed health summary each (SQLite).

Enrolls N gateways (50 enterprises), ingests one health-summary batch per gateway through the real
ingest, then times ``fleet.gateways`` (what ``cloud gateways`` and the operator API serve) and three
``check_fleet`` rounds: the first (10 % of gateways report an unhealthy device), a steady one
(nothing changes) and one an hour later (every gateway silent). Bounded: a few seconds for N = 1000.

    PYTHONPATH=. .venv/bin/python bench/fleet_check.py [--gateways 1000]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from nacl.signing import SigningKey

from cloud_stub import fleet
from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import enroll, issue_token
from cloud_stub.fleet_alerts import check_fleet
from cloud_stub.ingest import ingest
from gateway import wire
from gateway.wire import health as wire_health


def summary(gateway_id: str, ts: float, unhealthy: int) -> dict:
    return wire_health.health_record(
        subject=gateway_id, ts=ts, boot=1, version="0.1.0", uptime_s=600, clock={"synced": True, "source": "kernel"},
        backlog={"batches": 0, "records": 0, "pending_indicators": 0, "oldest_unacked_s": None},
        devices={"total": 4, "healthy": 4 - unhealthy, "unhealthy": unhealthy, "starting": 0,
                 "errors": {"timeout": unhealthy} if unhealthy else {}},
        store={"days_left": 30.0, "size_mb": 10.0}, consent={"last_change": None, "event": None})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateways", type=int, default=1000)
    n = ap.parse_args().gateways
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as d:
        rdb = ReceiverDB(Path(d) / "r.db")
        now = time.time()
        for i in range(n):
            key, gid, ent = SigningKey.generate(), f"gw-{i:05d}", f"ent-{i % 50}"
            tok = issue_token(rdb, ent)["token"]
            enroll(rdb, tok, gid, wire.b64(bytes(key.verify_key)), wire.b64(wire.sign_enrollment(tok, gid, key)))
            kid = wire.key_id(bytes(key.verify_key))
            body = {"v": 1, "gateway": gid, "enterprise": ent, "kid": kid, "seq": 1, "prev": wire.GENESIS_PREV,
                    "boot": 1, "created": wire.format_time(now), "clock": {"synced": True, "source": "kernel"},
                    "loss": {"polls_failed": 0, "readings_purged_unsent": 0, "batches_dropped": 0},
                    "records": [summary(gid, now, 1 if i % 10 == 0 else 0)]}
            assert ingest(rdb, wire.sign_body(body, key).envelope()).status == "accepted"
        t0 = time.perf_counter()
        items = fleet.gateways(rdb)
        t_list = time.perf_counter() - t0
        rounds = []
        for at in (now + 5, now + 10, now + 3600):
            t0 = time.perf_counter()
            raised = check_fleet(rdb, at)
            rounds.append((time.perf_counter() - t0, len(raised)))
        rdb.close()
    print(f"{n} gateways ({len(items)} listed): fleet list {t_list * 1000:.0f} ms; check_fleet first "
          f"{rounds[0][0]:.2f} s ({rounds[0][1]} alerts), steady {rounds[1][0]:.2f} s ({rounds[1][1]}), "
          f"all silent {rounds[2][0]:.2f} s ({rounds[2][1]})")


if __name__ == "__main__":
    main()
