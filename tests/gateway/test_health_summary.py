"""The gateway's health summary pieces on a real store: the last consent change, read incrementally."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway import wire
from gateway.identity import init_identity, load_identity, write_json_atomic
from gateway.store import Store
from gateway.uplink.batcher import Batcher
from gateway.uplink.health import ConsentTracker, devices_summary
from gateway.wire import health as wire_health


def _consent(event: str, at: int) -> dict:
    return {"type": "consent", "name": "consent.change", "category": "consent", "subject": "site",
            "window": {"start": at, "len": 0}, "event": event}


def test_the_last_consent_change_is_the_newest_consent_record_signed(tmp_path: Path) -> None:
    state = tmp_path / "gw"
    init_identity(state, "gw-t", "t")
    write_json_atomic(state / "enrollment.json", {"enterprise_id": "ent-1"})
    store = Store(state / "edgeproof.db", "NORMAL")
    try:
        batcher = Batcher(store, load_identity(state))
        gw = SimpleNamespace(store=store)
        tracker = ConsentTracker()
        assert tracker.summary(gw) == {"last_change": None, "event": None}
        batcher.pack_once(extra_records=[_consent("initial", 1764201600)])
        assert tracker.summary(gw) == {"last_change": wire.format_time(1764201600), "event": "initial"}
        batcher.pack_once(extra_records=[{"type": "note", "category": "other"}])  # not a consent batch
        assert tracker.summary(gw)["event"] == "initial"
        batcher.pack_once(extra_records=[_consent("revoked", 1764205200)])
        assert tracker.summary(gw) == {"last_change": wire.format_time(1764205200), "event": "revoked"}
        assert tracker.scanned == store.outbox_head() == 3
        # a fresh tracker (a restarted gateway) finds the same from the whole outbox
        assert ConsentTracker().summary(gw)["event"] == "revoked"
    finally:
        store.close()


def test_devices_are_counted_by_state_and_last_error_kind() -> None:
    def poller(state: str, err: str | None = None) -> SimpleNamespace:
        return SimpleNamespace(health=SimpleNamespace(state=state, last_error=err))

    got = devices_summary([poller("healthy"), poller("unhealthy", "timeout: no answer from 10.0.0.5"),
                           poller("unhealthy", "timeout: again"), poller("unhealthy", None), poller("starting")])
    assert got == {"total": 5, "healthy": 1, "unhealthy": 3, "starting": 1,
                   "errors": {"timeout": 2, "unknown": 1}, "identified": 0}


def test_the_summary_carries_the_signed_updates_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Versions and update events travel in the signed health summary (issue 17): a rollback says why."""
    import json

    from gateway.update import journal, switch
    from gateway.uplink.health import firmware_summary

    root = tmp_path / "opt"
    monkeypatch.setenv(switch.ROOT_ENV, str(root))
    assert firmware_summary() is None  # not installed through signed updates: the field is left out
    for version in ("1.0.0", "1.1.0"):
        d = switch.version_dir(root, version)
        d.mkdir(parents=True)
        (d / switch.MARKER).write_text(json.dumps({"version": version}))
    switch.point_current(root, switch.link_target("1.0.0"))
    journal.record_event(root, "update", "1.1.0", "rolled_back", "selftest failed: store is not writable",
                         **{"from": "1.0.0"})
    fw = firmware_summary()
    assert fw is not None and fw["current"] == "1.0.0"
    assert fw["last_event"] == {"kind": "update", "version": "1.1.0", "time": fw["last_event"]["time"],
                                "result": "rolled_back", "reason": "selftest failed: store is not writable"}
    rec = wire_health.health_record(subject="gw-1", ts=1_796_000_000, boot=1, version="1.0.0", uptime_s=5,
                                    clock={"synced": True}, backlog={"batches": 0, "records": 0,
                                                                     "pending_indicators": 0, "oldest_unacked_s": None},
                                    devices={"total": 0, "healthy": 0, "unhealthy": 0, "errors": {}},
                                    store={"days_left": None, "size_mb": 0.1, "disk_free_mb": 100.0},
                                    consent={"last_change": None, "event": None}, firmware=fw)
    assert rec["firmware"]["last_event"]["result"] == "rolled_back"


def test_the_summary_carries_the_first_boot_result_without_the_token(tmp_path: Path) -> None:
    """First boot's outcome travels in the signed summary (issue 17); the token and receiver URL never do."""
    from gateway.provision.state import STATE_FILE
    from gateway.uplink.health import first_boot_summary

    assert first_boot_summary(tmp_path) is None  # not provisioned from a boot-partition file
    write_json_atomic(tmp_path / STATE_FILE, {
        "status": "retrying", "attempt": 2, "started_at": 1.0, "finished_at": None, "receiver": "https://r.example",
        "token": "tok-secret", "file": "/boot/firmware/edgeproof-provision.toml",
        "steps": [{"name": "init", "status": "ok", "message": "key made", "at": 1.0},
                  {"name": "enroll", "status": "failed", "message": "receiver unreachable", "at": 2.0}]})
    fb = first_boot_summary(tmp_path)
    assert fb == {"status": "retrying", "attempt": 2, "finished_at": None,
                  "steps": [{"name": "init", "status": "ok"}, {"name": "enroll", "status": "failed"}]}
    assert "tok-secret" not in str(fb) and "r.example" not in str(fb)
