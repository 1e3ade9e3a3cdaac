"""Consent through the real store, batcher and signing key: revoke, expire, narrow, re-grant.
Nothing unauthorised leaves; nothing authorised is lost; the bank is told why data stopped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gateway import wire
from gateway.consent import audit
from gateway.consent.gate import ConsentGate, build_gate
from gateway.consent.policy import add_local_change, evaluate, load_consent
from gateway.identity import init_identity, load_identity, write_json_atomic
from gateway.privacy.policy import load_privacy
from gateway.profile import ProfileError
from gateway.store import Store
from gateway.uplink.batcher import Batcher
from gateway.uplink.packing import pack_step
from tests.indicators.helpers import profile

T0 = 1_800_000_000.0
DEST = "http:https://receiver.example"


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[Path, Store, Batcher]]:
    state = tmp_path / "gw"
    init_identity(state, "gw-test", "t")
    write_json_atomic(state / "enrollment.json", {"enterprise_id": "ent-1", "receiver_url": "https://receiver.example"})
    store = Store(state / "edgeproof.db", "NORMAL")
    yield state, store, Batcher(store, load_identity(state))
    store.close()


_n = [0]


def add(store: Store, category: str, value: float = 1.0, unit: str = "kWh", name: str | None = None) -> None:
    _n[0] += 1
    store.add_indicators([{"name": name or f"{category}.x", "category": category, "subject": f"s{_n[0]}",
                           "window_start": 0, "window_len": 60, "value": value, "unit": unit, "quality": [],
                           "version": 1, "detail": {}}])


def gate(store: Store, grants: list[dict[str, Any]], **privacy: Any) -> ConsentGate:
    consent = load_consent({"enterprise": "ent-1", "grants": grants})
    return ConsentGate(store, consent, load_privacy(privacy), DEST)


def sent(store: Store) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for seq, body in store.db.execute("SELECT seq, body FROM outbox ORDER BY seq"):
        for r in wire.decode_body(body)["records"]:
            out.append((seq, r))
    return out


def test_evaluate_grants_revocations_expiry_and_receiver() -> None:
    _, grants = load_consent({"grants": [
        {"categories": ["energy", "erp"], "receiver": "http:*", "until": "2027-01-01T00:00:00Z"},
        {"categories": ["*"], "receiver": "mqtt:*"}]})
    from gateway.consent.policy import LocalChange

    t = 1_790_000_000.0  # 2026-09
    a = evaluate(grants, [], t, DEST)
    assert a.permits("energy") and a.permits("erp") and not a.permits("mes")
    assert evaluate(grants, [], t, "mqtt:broker:1883").permits("mes")
    assert not evaluate(grants, [], 1_800_000_000.0, DEST).permits("energy")  # 2027: expired
    rev = LocalChange(1, t + 1, "revoke", frozenset({"erp"}), "*", None, "")
    assert not evaluate(grants, [rev], t + 2, DEST).permits("erp")
    assert not evaluate(grants, [rev], t, DEST).permits("erp")  # clock set back: a revoke still holds
    assert not evaluate(grants, [rev], t + 2, "mqtt:b:1").permits("erp")  # a "*" grant does not undo a revoke
    regrant = LocalChange(2, t + 3, "grant", frozenset({"erp"}), "*", None, "")
    assert evaluate(grants, [rev, regrant], t + 4, DEST).permits("erp")
    assert not evaluate(grants, [rev, regrant], t + 2, DEST).permits("erp")  # a grant waits for its time
    all_off = LocalChange(3, t + 5, "revoke", frozenset({"*"}), "*", None, "")
    a = evaluate(grants, [rev, regrant, all_off], t + 6, DEST)
    assert not any(a.permits(c) for c in ("energy", "erp", "mes"))


def test_consent_section_errors() -> None:
    with pytest.raises(ProfileError, match=r"consent.grants\[0\].until"):
        load_consent({"grants": [{"categories": ["energy"], "until": "next year"}]})
    with pytest.raises(ProfileError, match=r"consent.grants\[0\].categories"):
        load_consent({"grants": [{"categories": []}]})
    with pytest.raises(ProfileError, match="consent.grant"):
        load_consent({"grant": []})


def test_revoke_expire_narrow_regrant(parts: tuple[Path, Store, Batcher]) -> None:
    state, store, batcher = parts
    g = gate(store, [{"categories": ["energy", "erp", "mes"], "to": "bank-a", "until": T0 + 1000}],
             amount_buckets=[0, 10000, 50000])
    batcher.policy = g.policy
    add(store, "energy")
    add(store, "erp", 13500.0, "CNY", "erp.order_amount")
    add(store, "vision")  # never authorised
    pack_step(batcher, g, now=T0)
    recs = sent(store)
    consent = [r for _, r in recs if r["type"] == "consent"]
    assert len(consent) == 1 and consent[0]["event"] == "initial" and consent[0]["to"] == ["bank-a"]
    assert consent[0]["allowed"] == ["energy", "erp", "mes"] and consent[0]["until"] == "2027-01-15T08:16:40Z"
    assert recs[0][1]["type"] == "consent"  # the announcement comes before the data it governs
    amount = next(r for _, r in recs if r.get("name") == "erp.order_amount")
    assert amount["value"] == 10000.0 and amount["detail"]["range"] == [10000.0, 50000.0]
    held = dict(store.db.execute("SELECT category, held FROM indicators WHERE held IS NOT NULL").fetchall())
    assert list(held) == ["vision"] and "not authorised" in held["vision"]

    # revoke ERP on site: the next step stops it and says so
    add_local_change(store, "revoke", ["erp"], note="bank B asked too much", at=T0 + 10)
    add(store, "energy")
    add(store, "erp", 5.0, "CNY")
    head = store.outbox_head()  # one category per batch: the first step may have packed several
    pack_step(batcher, g, now=T0 + 20)
    new = [r for seq, r in sent(store) if seq > head]
    ev = [r for r in new if r["type"] == "consent"]
    assert len(ev) == 1 and ev[0]["event"] == "revoked" and ev[0]["stopped"] == ["erp"]
    assert ev[0]["reasons"] == ["revoked_on_site"]
    assert {r["category"] for r in new if r["type"] == "indicator"} == {"energy"}

    # nothing changes: no new consent record
    add(store, "mes", 7.0, "count", "mes.good_qty")
    head = store.outbox_head()
    pack_step(batcher, g, now=T0 + 30)
    assert [r["type"] for seq, r in sent(store) if seq > head] == ["indicator"]

    # expiry: everything stops at once, with a record
    add(store, "energy")
    head = store.outbox_head()
    pack_step(batcher, g, now=T0 + 1000)
    new = [r for seq, r in sent(store) if seq > head]
    assert [r["type"] for r in new] == ["consent"]
    assert new[0]["event"] == "expired" and new[0]["allowed"] == [] and new[0]["stopped"] == ["energy", "mes"]

    # a new grant on site resumes energy only
    add_local_change(store, "grant", ["energy"], at=T0 + 1100)
    add(store, "energy")
    add(store, "mes", 9.0, "count", "mes.good_qty")
    head = store.outbox_head()
    pack_step(batcher, g, now=T0 + 1200)
    new = [r for seq, r in sent(store) if seq > head]
    assert new[0]["event"] == "granted" and new[0]["resumed"] == ["energy"]
    assert {r["category"] for r in new if r["type"] == "indicator"} == {"energy"}

    _nothing_unauthorised_left_nothing_authorised_lost(store)
    v = audit.verify(store)
    assert v.ok, v.problems
    assert v.batches == store.outbox_head() and v.consent_changes == 6  # 4 announced + 2 made on site


def test_narrower_policy_is_announced(parts: tuple[Path, Store, Batcher]) -> None:
    _, store, batcher = parts
    wide = gate(store, [{"categories": ["energy", "machine"]}])
    batcher.policy = wide.policy
    add(store, "machine")
    pack_step(batcher, wide, now=T0)
    narrow = gate(store, [{"categories": ["energy"]}])  # the enterprise edited its consent file
    batcher.policy = narrow.policy
    add(store, "machine")
    add(store, "energy")
    head = store.outbox_head()
    pack_step(batcher, narrow, now=T0 + 5)
    new = [r for seq, r in sent(store) if seq > head]
    assert new[0]["event"] == "narrowed" and new[0]["stopped"] == ["machine"]
    assert [r["category"] for r in new[1:]] == ["energy"]
    _nothing_unauthorised_left_nothing_authorised_lost(store)


def test_receiver_must_match(parts: tuple[Path, Store, Batcher]) -> None:
    _, store, batcher = parts
    g = gate(store, [{"categories": ["*"], "receiver": "mqtt:*"}])  # only over MQTT
    batcher.policy = g.policy
    add(store, "energy")
    pack_step(batcher, g, now=T0)
    assert [r["type"] for _, r in sent(store)] == ["consent"]
    assert store.db.execute("SELECT COUNT(*) FROM indicators WHERE held IS NOT NULL").fetchone()[0] == 1


def test_profile_without_consent_sends_everything_without_records(parts: tuple[Path, Store, Batcher]) -> None:
    state, store, batcher = parts
    g = build_gate(profile(), state, store, DEST)
    assert not g.active
    batcher.policy = g.policy
    add(store, "vision")
    pack_step(batcher, g, now=T0)
    assert [r["type"] for _, r in sent(store)] == ["indicator"]


def _nothing_unauthorised_left_nothing_authorised_lost(store: Store) -> None:
    """Every indicator row is either in exactly one batch or held with a reason, and every
    indicator record in the outbox was authorised by the consent state announced before it."""
    rows = store.db.execute("SELECT id, batch_seq, held FROM indicators").fetchall()
    assert all((b is None) != (h is None) for _, b, h in rows), rows
    allowed: set[str] = set()
    n_ind = 0
    for _, r in sent(store):
        if r["type"] == "consent":
            allowed = set(r["allowed"]) - set(r["denied"])
        else:
            n_ind += 1
            assert r["category"] in allowed or "*" in allowed, r
    assert n_ind == sum(1 for _, b, _ in rows if b is not None)


def test_audit_log_detects_tampering_and_refuses_edits(parts: tuple[Path, Store, Batcher]) -> None:
    _, store, batcher = parts
    g = gate(store, [{"categories": ["energy"]}])
    batcher.policy = g.policy
    for i in range(3):
        add(store, "energy")
        pack_step(batcher, g, now=T0 + i)
    assert audit.verify(store).ok
    entries = audit.read_entries(store.path, 10)
    # newest first; the consent change went out alone in batch 1 (every bank may see it)
    assert [e["kind"] for e in entries] == ["batch", "batch", "batch", "batch", "consent"]
    assert entries[3]["seq"] == 1 and entries[3]["categories"] == ["consent"]
    assert entries[0]["seq"] == 4 and entries[0]["n_records"] == 1 and entries[0]["acknowledged"] is None
    store.set_acked("http:x", 3)
    assert [e["acknowledged"] for e in audit.read_entries(store, 4)] == [False, True, True, True]
    import sqlite3

    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("UPDATE audit_log SET n_records=99 WHERE id=2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM audit_log WHERE id=2")
    # someone with the file drops the trigger and edits an entry: the chain shows it
    store.db.execute("DROP TRIGGER audit_log_no_update")
    store.db.execute("UPDATE audit_log SET n_records=99 WHERE id=2")
    v = audit.verify(store)
    assert not v.ok and any("entry 2" in p for p in v.problems)


def test_cli_consent_revoke_and_audit(parts: tuple[Path, Store, Batcher], tmp_path: Path) -> None:
    from gateway.commands.audit import command as audit_cmd
    from gateway.commands.consent import command as consent_cmd

    state, store, batcher = parts
    g = gate(store, [{"categories": ["energy", "erp"]}])
    batcher.policy = g.policy
    add(store, "energy")
    pack_step(batcher, g, now=T0)
    db = str(store.path)
    runner = CliRunner()
    res = runner.invoke(consent_cmd, ["revoke", "--db", db, "erp", "--note", "test"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(audit_cmd, ["verify", "--db", db])
    assert res.exit_code == 0 and "audit log OK" in res.output
    res = runner.invoke(audit_cmd, ["show", "--db", db, "--json"])
    lines = [json.loads(x) for x in res.output.splitlines()]
    assert lines[0]["kind"] == "consent_local" and lines[0]["detail"]["categories"] == ["erp"]
    store.db.execute("DROP TRIGGER audit_log_no_delete")
    store.db.execute("DELETE FROM audit_log WHERE id=2")
    res = runner.invoke(audit_cmd, ["verify", "--db", db])
    assert res.exit_code == 1 and "BROKEN" in res.output


def test_release_puts_held_indicators_back_under_the_current_consent(parts: tuple[Path, Store, Batcher]) -> None:
    from gateway.consent.policy import release_held

    _, store, batcher = parts
    g = gate(store, [{"categories": ["energy"]}])
    batcher.policy = g.policy
    add(store, "erp", 3.0, "count")
    add(store, "vision")
    pack_step(batcher, g, now=T0)
    assert store.db.execute("SELECT COUNT(*) FROM indicators WHERE held IS NOT NULL").fetchone()[0] == 2
    add_local_change(store, "grant", ["erp"], at=T0 + 1)
    pack_step(batcher, g, now=T0 + 2)  # a grant alone does not send what was refused earlier
    assert all(r["category"] != "erp" for _, r in sent(store) if r["type"] == "indicator")
    assert release_held(store, ["erp"], "agreed with bank") == 1
    pack_step(batcher, g, now=T0 + 3)
    assert [r["category"] for _, r in sent(store) if r["type"] == "indicator"] == ["erp"]
    assert store.db.execute("SELECT held FROM indicators WHERE category='vision'").fetchone()[0] is not None
    _nothing_unauthorised_left_nothing_authorised_lost(store)
    assert audit.verify(store).ok


def test_unset_clock_defers_packing_instead_of_holding_everything(parts: tuple[Path, Store, Batcher]) -> None:
    _, store, batcher = parts
    g = gate(store, [{"categories": ["energy"], "valid_from": "2026-01-01"}])
    batcher.policy = g.policy
    add(store, "energy")
    assert pack_step(batcher, g, now=86400.0) == []  # 2 Jan 1970: the Pi's clock before NTP
    assert store.outbox_head() == 0
    assert store.db.execute("SELECT COUNT(*) FROM indicators WHERE held IS NOT NULL").fetchone()[0] == 0
    pack_step(batcher, g, now=T0)
    assert [r["type"] for _, r in sent(store)] == ["consent", "indicator"]


def test_pages_of_held_indicators_do_not_delay_authorised_ones(parts: tuple[Path, Store, Batcher]) -> None:
    _, store, _ = parts
    batcher = Batcher(store, load_identity(parts[0]), max_records=50)
    g = gate(store, [{"categories": ["energy"]}])
    batcher.policy = g.policy
    for _ in range(120):
        add(store, "erp", 5.0, "count")
    add(store, "energy")
    pack_step(batcher, g, now=T0)
    assert [r["category"] for _, r in sent(store)] == ["consent", "energy"]
    assert store.db.execute("SELECT COUNT(*) FROM indicators WHERE held IS NOT NULL").fetchone()[0] == 120


def test_separate_consent_file_owned_by_the_enterprise(tmp_path: Path) -> None:
    (tmp_path / "consent.toml").write_text(
        '[[grants]]\ncategories = ["mes"]\nto = "bank-b"\nuntil = 2027-01-01T00:00:00Z\n', encoding="utf-8")
    cfg, grants = load_consent({"enterprise": "e", "file": "consent.toml",
                                "grants": [{"categories": ["energy"]}]}, tmp_path)
    a = evaluate(grants, [], T0 - 10_000_000, DEST)
    assert a.permits("energy") and a.permits("mes") and a.to == ("bank-b",)
    assert not evaluate(grants, [], T0, DEST).permits("mes")  # the file's grant ended on 1 Jan 2027
    (tmp_path / "bad.toml").write_text('[[grants]]\ncategories = "mes"\n', encoding="utf-8")
    with pytest.raises(ProfileError, match="bad.toml"):
        load_consent({"file": "bad.toml"}, tmp_path)
    with pytest.raises(ProfileError, match="readable consent file"):
        load_consent({"file": "missing.toml"}, tmp_path)
