"""The receiver obeys the enterprise's signed consent: a real gateway (store, consent gate, batcher,
enrolled identity, HTTP uplink) signs consent records naming banks, the real receiver serves each
bank the intersection of its operator grant and that consent, and ``feed verify`` passes for all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cloud_helpers import T0, http, pin_of, uplink

from cloud_stub.banks import add_bank
from cloud_stub.cli import cloud
from cloud_stub.enrollment import issue_token
from cloud_stub.feed_verify import verify_feed
from gateway import wire
from gateway.consent.gate import ConsentGate
from gateway.consent.policy import add_local_change, load_consent
from gateway.identity import enroll, init_identity, load_identity
from gateway.privacy.policy import load_privacy
from gateway.profile import ProfileError
from gateway.store import Store
from gateway.uplink.batcher import Batcher
from gateway.uplink.packing import pack_step

NAMES = {"energy": "energy.kwh", "machine": "machine.cycles", "env": "env.temp_c_mean"}
NOW = 1_796_000_000.0  # 2026-12


class Site:
    """A real gateway of enterprise ``ent-c`` whose consent names bank-a (energy, machine) and bank-b (env)."""

    def __init__(self, receiver: Any, state: Path) -> None:
        self.receiver, self.state = receiver, state
        init_identity(state, "gw-c", "t")
        enroll(state, receiver.url, issue_token(receiver.rdb, "ent-c")["token"])
        (state / "agreement.pdf").write_bytes(b"%PDF-1.4 signed authorisation agreement, ent-c and bank-a\n")
        self.store = Store(state / "edgeproof.db", "NORMAL")
        consent = load_consent({"enterprise": "ent-c", "purpose": "working-capital loan monitoring",
                                "agreement": "agreement.pdf", "grants": [
                                    {"to": "bank-a", "categories": ["energy", "machine"]},
                                    {"to": "bank-b", "categories": ["env"], "purpose": "collateral check"}]},
                               state)
        self.gate = ConsentGate(self.store, consent, load_privacy({}), "http:" + receiver.url)
        self.batcher = Batcher(self.store, load_identity(state), max_records=4)
        self.batcher.policy = self.gate.policy
        self.i = 0

    def step(self, now: float) -> None:
        """Three categories of indicators, packed under the consent in force at ``now`` and delivered."""
        rows = []
        for cat, name in NAMES.items():
            rows.append({"name": name, "category": cat, "subject": "press-1", "window_start": T0 + 900 * self.i,
                         "window_len": 900, "value": 100.0 + self.i, "unit": "u", "quality": [], "version": 1,
                         "detail": {}})
        self.i += 1
        self.store.add_indicators(rows)
        pack_step(self.batcher, self.gate, now=now)
        uplink(self.store, load_identity(self.state), self.receiver.url)


@pytest.fixture
def csite(receiver: Any, tmp_path: Path) -> Iterator[Site]:
    s = Site(receiver, tmp_path / "gw")
    yield s
    s.store.close()


def served(receiver: Any, token: str) -> dict[str, Any]:
    out = verify_feed(receiver.url, "ent-c", token, pin_of(receiver))
    assert out["failures"] == [] and out["failed"] == 0, out["failures"]
    return out


def record_categories(receiver: Any, token: str) -> list[str]:
    status, page = http("GET", f"{receiver.url}/v1/feed/ent-c/records?limit=5000", token=token)
    assert status == 200, page
    return sorted({r["record"].get("category") for r in page["records"]})


def test_consent_records_carry_recipients_purpose_and_the_agreement_digest(csite: Site) -> None:
    csite.step(NOW)
    bodies = [wire.decode_body(b) for _s, _h, b, _sig, _k, _hs in csite.store.outbox_after(0, 100)]
    rec = next(r for b in bodies for r in b["records"] if r["type"] == "consent")
    digest = hashlib.sha256((csite.state / "agreement.pdf").read_bytes()).hexdigest()
    assert rec["purpose"] == "working-capital loan monitoring" and rec["agreement_sha256"] == digest
    assert rec["to"] == ["bank-a", "bank-b"]
    assert rec["recipients"] == [
        {"to": "bank-a", "categories": ["energy", "machine"], "purpose": "working-capital loan monitoring",
         "agreement_sha256": digest, "until": None},
        {"to": "bank-b", "categories": ["env"], "purpose": "collateral check", "agreement_sha256": digest,
         "until": None}]


def test_a_missing_agreement_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"consent\.agreement.*nope\.pdf"):
        load_consent({"agreement": "nope.pdf", "grants": [{"categories": ["energy"]}]}, tmp_path)
    with pytest.raises(ProfileError, match=r"consent\.grants\[1\]\.agreement.*b\.pdf"):
        load_consent({"grants": [{"categories": ["energy"]}, {"categories": ["env"], "agreement": "b.pdf"}]},
                     tmp_path)


def test_each_bank_gets_the_intersection_and_an_unnamed_bank_nothing(csite: Site) -> None:
    receiver = csite.receiver
    csite.step(NOW)
    csite.step(NOW + 60)
    a = add_bank(receiver.rdb, "bank-a", "ent-c")  # the operator grants everything
    assert a["consent"]["wider_than_consent"] == ["*"] and a["consent"]["served"] == ["energy", "machine"]
    b = add_bank(receiver.rdb, "bank-b", "ent-c", "env,energy")
    assert b["consent"]["wider_than_consent"] == ["energy"] and b["consent"]["served"] == ["env"]
    x = add_bank(receiver.rdb, "bank-x", "ent-c")
    assert x["consent"]["status"] == "not_named"

    out_a = served(receiver, a["token"])
    assert out_a["categories"] == ["energy", "machine"] and out_a["withheld"] > 0
    assert record_categories(receiver, a["token"]) == ["consent", "energy", "machine"]
    out_b = served(receiver, b["token"])
    assert out_b["categories"] == ["env"]
    assert record_categories(receiver, b["token"]) == ["consent", "env"]
    status, page = http("GET", f"{receiver.url}/v1/feed/ent-c/indicators", token=b["token"])
    assert status == 200 and {i["category"] for i in page["items"]} == {"env"}

    # a bank the consent does not name gets nothing, as if it had no grant
    for path in ("records", "indicators", "findings", "scores", "alerts", "heads"):
        status, page = http("GET", f"{receiver.url}/v1/feed/ent-c/{path}", token=x["token"])
        assert status == 403 and "forbidden" in json.dumps(page), (path, page)
    status, page = http("GET", f"{receiver.url}/v1/feed/enterprises", token=x["token"])
    assert status == 200 and page["enterprises"] == []


def test_narrowing_and_revoking_consent_narrow_the_feed_for_past_records(csite: Site) -> None:
    receiver = csite.receiver
    csite.step(NOW)
    a = add_bank(receiver.rdb, "bank-a", "ent-c")["token"]
    before = served(receiver, a)
    assert record_categories(receiver, a) == ["consent", "energy", "machine"]

    add_local_change(csite.store, "revoke", ["machine"], note="narrowed", at=NOW + 30)
    csite.step(NOW + 60)
    after = served(receiver, a)  # the machine batches signed before the revocation are withheld now
    assert after["categories"] == ["energy"] and after["withheld"] > before["withheld"]
    assert record_categories(receiver, a) == ["consent", "energy"]

    add_local_change(csite.store, "revoke", ["*"], note="relationship ended", at=NOW + 90)
    csite.step(NOW + 120)
    gone = served(receiver, a)  # still listed (named before): only why the data stopped is shown
    assert gone["categories"] == [] and record_categories(receiver, a) == ["consent"]
    status, page = http("GET", f"{receiver.url}/v1/feed/ent-c/indicators", token=a)
    assert status == 200 and page["items"] == []


def test_an_expired_recipient_entry_gives_nothing_even_without_a_new_record(csite: Site) -> None:
    receiver = csite.receiver
    csite.gate.grants = load_consent({"grants": [{"to": "bank-a", "categories": ["energy"],
                                                  "until": "2027-01-01T00:00:00Z"}]})[1]
    csite.step(NOW)
    token = add_bank(receiver.rdb, "bank-a", "ent-c")["token"]
    assert record_categories(receiver, token) == ["consent", "energy"]
    with receiver.rdb.write() as conn:  # the gateway fell silent; the receiver's clock passed `until`
        text = conn.execute("SELECT record FROM records WHERE type = 'consent'").fetchone()[0]
        assert json.loads(text)["recipients"][0]["until"] == "2027-01-01T00:00:00Z"
    from cloud_stub import consent

    with receiver.rdb.read() as conn:
        ec = consent.load(conn, "ent-c")
    assert consent.effective(ec, "bank-a", None, NOW).categories == frozenset({"energy"})
    assert consent.effective(ec, "bank-a", None, 1_798_761_600.0).categories == frozenset()


def test_old_chains_without_consent_keep_the_operator_grant(receiver: Any) -> None:
    from cloud_helpers import FakeGateway, indicator

    old = FakeGateway("gw-old", "ent-old")
    receiver.enroll(old)
    assert receiver.post(old.next(records=[indicator(0)]).envelope())[0] == 200
    token = add_bank(receiver.rdb, "bank-z", "ent-old")
    assert token["consent"]["status"] == "no_consent" and token["consent"]["wider_than_consent"] == []
    out = verify_feed(receiver.url, "ent-old", token["token"], pin_of(receiver))
    assert out["failures"] == [] and out["records"] == 1


def test_cloud_consent_and_bank_add_report_a_grant_wider_than_consent(csite: Site) -> None:
    receiver = csite.receiver
    csite.step(NOW)
    runner = CliRunner()
    db = receiver.rdb.url if receiver.rdb.dialect == "postgresql" else str(receiver.db_path)
    res = runner.invoke(cloud, ["bank", "add", "--db", db, "--name", "bank-a", "--enterprise", "ent-c"])
    assert res.exit_code == 0 and res.stdout.strip().startswith("bank_")
    assert "wider than the enterprise's signed consent" in res.stderr
    assert "withheld: every category the consent does not name" in res.stderr
    res = runner.invoke(cloud, ["consent", "--db", db, "--enterprise", "ent-c", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["grants"]
    assert [(r["bank"], r["served"], r["wider_than_consent"]) for r in rows] == [
        ("bank-a", ["energy", "machine"], ["*"])]
    res = runner.invoke(cloud, ["consent", "--db", db, "--enterprise", "ent-c"])
    assert "WIDER than consent" in res.stdout
