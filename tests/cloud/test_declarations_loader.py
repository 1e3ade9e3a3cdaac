"""The receiver's declaration loader on real ingest (re-run on PostgreSQL by
test_declarations_loader_postgres.py): withdrawals per gateway, period overlap, id bound,
malformed records skipped, part of the inputs digest."""

from __future__ import annotations

from typing import Any

from cloud_helpers import FakeGateway
from rule_inputs_helpers import DAY0, enrolled, evidence, push

from cloud_stub.db import ReceiverDB
from cloud_stub.declarations import load_declarations
from gateway.declarations import ledger

D = 86400


def decl(did: int, kind: str, day: int, days: int = 1, assets: tuple[str, ...] = (), at_day: int = -3
         ) -> dict[str, Any]:
    return ledger.record({"id": did, "action": "declare", "kind": kind, "start": DAY0 + day * D,
                          "end": DAY0 + (day + days) * D, "assets": list(assets),
                          "declared_at": DAY0 + at_day * D}, "site")


def withdraw(did: int, target: int, day: int) -> dict[str, Any]:
    return ledger.record({"id": did, "action": "withdraw", "withdraws": target, "declared_at": DAY0 + day * D},
                         "site")


def test_withdrawals_apply_per_gateway_and_the_period_and_bounds_select(rdb: ReceiverDB) -> None:
    live = enrolled(rdb, FakeGateway("gw-live", "ent-1"))
    hist = enrolled(rdb, FakeGateway("gw-hist", "ent-1"))
    push(rdb, live, [decl(1, "holiday", 3, 2), decl(2, "maintenance", 10, 1, ("press-1",)),
                     decl(3, "stocktake", 60), {**decl(4, "holiday", 5), "kind": "nap"}])
    push(rdb, hist, [decl(1, "planned_downtime", 20, 3, at_day=21), withdraw(2, 1, 22)],
         replay={"data_sha256": "0" * 64, "from": "x", "to": "y"})
    with rdb.read() as conn:
        before = conn.execute("SELECT max(id) FROM records").fetchone()[0]
    push(rdb, live, [withdraw(5, 1, 4), decl(1, "stocktake", 7)])  # a withdrawal, and a clash with #1 (skipped)
    with rdb.read() as conn:
        ds = load_declarations(conn, "ent-1", DAY0, DAY0 + 28 * D, 10**9)
        bounded = load_declarations(conn, "ent-1", DAY0, DAY0 + 28 * D, before)
    got = [(d.key, d.kind, d.assets, d.replayed, d.late, d.withdrawn_at) for d in ds.items]
    assert got == [("gw-live/1", "holiday", (), False, False, DAY0 + 4 * D),
                   ("gw-live/2", "maintenance", ("press-1",), False, False, None),
                   ("gw-hist/1", "planned_downtime", (), True, True, DAY0 + 22 * D)]
    assert [d.withdrawn_at for d in bounded.items] == [None, None, DAY0 + 22 * D]  # before the live withdrawal
    assert ds.covering(DAY0 + 10 * D, DAY0 + 11 * D) is None  # site-wide question: press-1's maintenance is no answer
    assert ds.covering(DAY0 + 10 * D, DAY0 + 11 * D, "press-1").key == "gw-live/2"
    assert ds.covering(DAY0 + 10 * D, DAY0 + 11 * D, "press-2") is None
    assert ds.mask([DAY0 + 3 * D, DAY0 + 10 * D], D, "press-1").tolist() == [False, True]  # #1 withdrawn


def test_declarations_are_part_of_the_inputs_digest_only_when_present(rdb: ReceiverDB) -> None:
    gw = enrolled(rdb, FakeGateway("gw-1", "ent-1"))
    push(rdb, gw, [ledger.record({"id": 9, "action": "withdraw", "withdraws": 1, "declared_at": DAY0}, "s")])
    plain = evidence(rdb)
    assert len(plain.declarations) == 0 and b"declarations" not in b"".join(plain.canonical_inputs())
    push(rdb, gw, [decl(1, "holiday", 2)])
    ev = evidence(rdb)
    assert len(ev.declarations) == 1 and ev.digest() != plain.digest()
    assert b'"declarations":[["gw-1/1","holiday"' in b"".join(ev.canonical_inputs())
