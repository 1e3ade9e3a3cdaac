"""Data-integrity rules: chain findings raised by real ingest, offline periods, clock problems."""

from __future__ import annotations

from cloud_helpers import FakeGateway
from nacl.signing import SigningKey
from rule_inputs_helpers import DAY0, Factory, build, enrolled, evidence, push, rec

from cloud_stub.db import ReceiverDB
from cloud_stub.ingest import ingest
from cloud_stub.rules import all_rules, registered_version


def run(ev, rid):
    cls = all_rules()[rid]
    return cls().evaluate(ev, dict(cls.defaults))


def test_chain_findings_from_real_ingest(tmp_path):
    rdb = ReceiverDB(tmp_path / "r.db", synchronous="OFF")
    gw = enrolled(rdb, FakeGateway())
    one = [rec("energy.kwh", "energy", "press-1", DAY0, 3600, 5.0, "kWh")]
    push(rdb, gw, one)
    # equivocation: the same seq again with other bytes
    other = gw.make(seq=gw.seq, prev="0" * 64, records=one, boot=2)
    assert ingest(rdb, other.envelope()).code == "equivocation"
    # a forged batch (signed by another key under the gateway's kid): anyone can send one, so it is
    # counted in memory, not stored (issue 18); a batch the gateway signed that breaks the chain is kept
    assert ingest(rdb, gw.make(key=SigningKey.generate()).envelope()).code == "bad_signature"
    assert ingest(rdb, gw.make(prev="ab" * 32, records=one).envelope()).code == "chain_broken"
    # the gateway declares 3 batches dropped
    gw.seq += 3
    b = gw.next(records=one, dropped=[gw.seq - 2, gw.seq])
    assert ingest(rdb, b.envelope()).status == "accepted"
    # a batch ahead of its predecessor, without declaring the gap: refused, noted
    assert ingest(rdb, gw.make(seq=gw.seq + 2, records=one).envelope()).code == "out_of_order"
    got = {f.key.split(":")[0]: f for f in run(evidence(rdb, days=2), "chain_integrity")}
    assert got["gap_observed"].severity == "yellow"
    assert got["gap_observed"].compared["expected_received"] == [[gw.seq + 1, gw.seq + 2]]
    assert got["rejected_batch"].severity == "orange"
    assert got["rejected_batch"].compared["codes"] == {"chain_broken": 1}
    assert got["gap_declared"].statistic["batches_dropped"] == 3
    assert got["gap_declared"].severity == "yellow"
    assert got["equivocation"].severity == "red" and got["equivocation"].compared["seqs"] == [1]


def test_offline_during_claimed_production(tmp_path):
    """Two working days in a row unobserved while the MES claims output: red since v3 (issue 14: such a
    gateway scored A, yellow), orange under the frozen v2, which still computes what it did."""
    rdb = ReceiverDB(tmp_path / "r.db", synchronous="OFF")
    build(rdb, Factory(days=28, offline=[(8, 0, 23), (9, 6, 20)]))
    ev = evidence(rdb, days=28)
    (f,) = run(ev, "offline_production")
    assert (f.version, f.severity, f.statistic["days_flagged"]) == (3, "red", 2)
    assert [round(d["offline_hours"]) for d in f.compared["days"]] == [24, 15]
    assert 5 <= f.statistic["unobserved_share_pct"] < 15
    assert f.statistic["longest_run_days"] == 2
    v2 = registered_version("offline_production", 2)
    (old,) = v2().evaluate(ev, dict(v2.defaults))
    assert (old.version, old.severity, old.statistic) == (2, "orange", f.statistic)


def test_an_offline_run_counts_working_days_a_weekend_does_not_break_it(tmp_path):
    # Day 14 of the test factory is a Tuesday: Fri 17 and Mon 20 offline; on the Saturday
    # between, the MES books only Friday's late 5 % (observed, but not a working day).
    rdb = ReceiverDB(tmp_path / "r.db", synchronous="OFF")
    build(rdb, Factory(days=28, offline=[(17, 0, 23), (20, 0, 23)]))
    (f,) = run(evidence(rdb, days=28), "offline_production")
    assert (f.statistic["days_flagged"], f.statistic["longest_run_days"]) == (2, 2)
    assert f.severity == "red" and f.threshold["run_days"] == {"yellow": 1, "orange": 2, "red": 2}
    rdb2 = ReceiverDB(tmp_path / "r2.db", synchronous="OFF")
    build(rdb2, Factory(days=28, offline=[(15, 0, 23), (17, 0, 23)]))  # Wed and Fri: Thu was observed
    (g,) = run(evidence(rdb2, days=28), "offline_production")
    assert (g.statistic["days_flagged"], g.statistic["longest_run_days"]) == (2, 1)


def test_clock_problems(tmp_path):
    rdb = ReceiverDB(tmp_path / "r.db", synchronous="OFF")
    build(rdb, Factory(days=7, unsynced=set(range(24, 60))))
    (f,) = run(evidence(rdb, days=7), "clock_quality")
    assert f.compared["windows_unsynced"] == 36 and f.severity == "orange"  # 36 / 168 = 21 %
    rdb2 = ReceiverDB(tmp_path / "r2.db", synchronous="OFF")
    build(rdb2, Factory(days=3), clock={"synced": True, "source": "test", "implausible": True})
    (g,) = run(evidence(rdb2, days=3), "clock_quality")
    assert g.severity == "orange" and g.compared["batches_implausible"] == g.compared["batches"] > 0


def test_honest_data_has_no_integrity_findings(tmp_path):
    rdb = ReceiverDB(tmp_path / "r.db", synchronous="OFF")
    build(rdb, Factory(days=7))
    ev = evidence(rdb, days=7)
    assert [f for r in ("chain_integrity", "offline_production", "clock_quality") for f in run(ev, r)] == []
