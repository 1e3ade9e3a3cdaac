"""Declarations leave whatever the consent categories: with every category revoked on site,
and with no [consent] section at all; each in a batch of its own, after the consent record."""

from __future__ import annotations

from gateway.consent import audit
from gateway.consent.gate import ConsentGate
from gateway.consent.policy import add_local_change
from gateway.declarations import ledger
from gateway.declarations.model import parse
from gateway.privacy.policy import load_privacy
from gateway.uplink.packing import pack_step
from tests.privacy.test_consent import DEST, T0, add, gate, parts, sent  # noqa: F401 - parts is a fixture


def test_declarations_leave_when_every_category_is_revoked(parts) -> None:  # noqa: F811
    _, store, batcher = parts
    g = gate(store, [{"categories": ["*"]}])
    batcher.policy = g.policy
    add_local_change(store, "revoke", ["*"], at=T0 - 10)
    add(store, "energy")
    d = ledger.add(store, parse("holiday", "2027-01-20", "2027-01-27", note="春节"), declared_at=T0 - 5)
    pack_step(batcher, g, now=T0)
    recs = sent(store)
    assert [r["type"] for _, r in recs] == ["consent", "declaration"]  # energy held, the declaration sent
    (seq, r) = recs[1]
    assert r["id"] == d and r["kind"] == "holiday" and "note" not in r and recs[0][0] < seq
    assert store.db.execute("SELECT categories FROM outbox WHERE seq = ?", (seq,)).fetchone()[0] == '["declaration"]'
    assert [i["signed_in_batch"] for i in ledger.listing(store)] == [seq]
    pack_step(batcher, g, now=T0 + 5)  # nothing new: signed once
    assert len(sent(store)) == 2
    assert audit.verify(store).ok
    kinds = [e["kind"] for e in audit.read_entries(store, None)]
    assert "declaration" in kinds


def test_declarations_leave_without_a_consent_section_and_wait_for_their_time(parts) -> None:  # noqa: F811
    _, store, batcher = parts
    g = ConsentGate(store, None, load_privacy({}), DEST)
    batcher.policy = g.policy
    ledger.add(store, parse("stocktake", "2027-01-05", "2027-01-06", "pallet-1"), declared_at=T0 + 100)
    pack_step(batcher, g, now=T0)
    assert sent(store) == []  # declared later than the gate's now (a replay not yet there)
    w = ledger.withdraw(store, 1, at=T0 + 200)
    pack_step(batcher, g, now=T0 + 300)
    assert [(r["name"], r.get("withdraws")) for _, r in sent(store)] == [("declaration.declare", None),
                                                                        ("declaration.withdraw", 1)]
    assert sent(store)[1][1]["id"] == w
