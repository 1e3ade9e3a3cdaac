"""Batch ingest over real HTTP: the chain rules, resends, tampering, and that rejections change nothing."""

from __future__ import annotations

import json
import threading

import pytest
from cloud_helpers import FakeGateway, flip_body_byte, http, indicator
from nacl.signing import SigningKey

from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import revoke_key
from cloud_stub.findings import list_findings
from cloud_stub.ingest import ingest
from gateway import wire


def findings(receiver, kind: str | None = None) -> list[dict]:
    with receiver.rdb.read() as conn:
        items = list_findings(conn)
    return [f for f in items if kind is None or f["kind"] == kind]


def accept_chain(receiver, gw: FakeGateway, n: int) -> list[wire.SignedBatch]:
    out = []
    for _ in range(n):
        b = gw.next(records=[indicator(gw.seq * 3 + i) for i in range(3)])
        status, res = receiver.post(b.envelope())
        assert (status, res) == (200, {"status": "accepted", "seq": gw.seq, "hash": b.hash}), res
        out.append(b)
    return out


def test_accepts_a_chain_and_stores_each_record(receiver, gw):
    batches = accept_chain(receiver, gw, 5)
    stored_batches, records = receiver.stored()
    assert [(h, s) for h, s, _ in stored_batches] == [(b.hash, i + 1) for i, b in enumerate(batches)]
    assert [bytes(body) for _, _, body in stored_batches] == [b.body for b in batches]
    assert len(records) == 15
    for _, bh, idx, rec in records:
        body = next(wire.decode_body(b.body) for b in batches if b.hash == bh)
        assert json.loads(rec) == body["records"][idx]
    with receiver.rdb.read() as conn:
        row = conn.execute(
            "SELECT type, name, category, subject, window_start, window_len FROM records ORDER BY id LIMIT 1"
        ).fetchone()
    assert row == ("indicator", "energy.kwh", "energy", "press-1", 1764201600, 900)
    assert findings(receiver) == []


def test_duplicate_resend_is_acknowledged_and_stored_once(receiver, gw):
    b1, b2 = accept_chain(receiver, gw, 2)
    before = receiver.stored()
    for b in (b2, b1, b2):  # a resend of the latest, and a replay of an old one
        status, res = receiver.post(b.envelope())
        assert (status, res) == (200, {"status": "duplicate", "seq": wire.decode_body(b.body)["seq"],
                                       "hash": b.hash})
    assert receiver.stored() == before
    accept_chain(receiver, gw, 1)  # the chain still continues normally


@pytest.mark.parametrize("case", [
    "flipped_body_byte", "wrong_key", "unknown_kid", "kid_mismatch", "reordered", "equivocation",
    "chain_broken", "gateway_mismatch", "revoked_key", "not_json", "bad_body", "bad_record",
    "lone_surrogate", "head_signed_by_another_key", "head_of_another_batch", "head_sig_not_base64",
])
def test_every_rejection_leaves_stored_data_unchanged(receiver, gw, case):
    accept_chain(receiver, gw, 3)
    before = receiver.stored()
    other_key = SigningKey.generate()
    expect: tuple[int, str]
    if case == "flipped_body_byte":
        env, expect = flip_body_byte(gw.make()), (400, "bad_signature")
    elif case == "wrong_key":  # signed by another key but claiming the gateway's kid
        env, expect = gw.make(key=other_key).envelope(), (400, "bad_signature")
    elif case == "unknown_kid":
        env = gw.make(key=other_key, kid=wire.key_id(bytes(other_key.verify_key))).envelope()
        expect = (403, "unknown_key")
    elif case == "kid_mismatch":  # envelope names the gateway's key, body another
        b = gw.make(kid=wire.key_id(bytes(other_key.verify_key)))
        env, expect = wire.SignedBatch(b.body, b.sig, gw.kid).envelope(), (400, "kid_mismatch")
    elif case == "reordered":
        env, expect = gw.make(seq=gw.seq + 2).envelope(), (409, "out_of_order")
    elif case == "equivocation":
        env, expect = gw.make(seq=2, prev=gw.prev, records=[indicator(99)]).envelope(), (409, "equivocation")
    elif case == "chain_broken":
        env, expect = gw.make(prev="ab" * 32).envelope(), (409, "chain_broken")
    elif case == "gateway_mismatch":
        env, expect = gw.make(gateway="gw-other").envelope(), (400, "gateway_mismatch")
    elif case == "revoked_key":
        revoke_key(receiver.rdb, gw.kid)
        env, expect = gw.make().envelope(), (403, "revoked_key")
    elif case == "not_json":
        env, expect = b"{not json", (400, "bad_envelope")
    elif case == "bad_body":
        body = b'{"v":1}'
        env = wire.SignedBatch(body, gw.key.sign(wire.SIGN_PREFIX + body).signature, gw.kid).envelope()
        expect = (400, "bad_body")
    elif case == "lone_surrogate":  # valid JSON, correctly signed, but "\ud800" is not Unicode
        rec = dict(indicator(0), subject="SURROGATE")
        body = wire.canonical_json(gw.body(gw.seq + 1, gw.prev, [rec])).replace(b"SURROGATE", b"\\ud800")
        env = wire.SignedBatch(body, gw.key.sign(wire.SIGN_PREFIX + body).signature, gw.kid).envelope()
        expect = (400, "bad_body")
    elif case == "head_signed_by_another_key":  # a good body signature, a head signature that is not the gateway's
        b = gw.make()
        head = wire.batch_head(json.loads(b.body), b.hash)
        env, expect = wire.SignedBatch(b.body, b.sig, b.kid, wire.sign_head(head, other_key)).envelope(), \
            (400, "bad_signature")
    elif case == "head_of_another_batch":  # the gateway's head signature, but for other contents
        b = gw.make()
        head = dict(wire.batch_head(json.loads(b.body), b.hash), categories=["machine"])
        env, expect = wire.SignedBatch(b.body, b.sig, b.kid, wire.sign_head(head, gw.key)).envelope(), \
            (400, "bad_signature")
    elif case == "head_sig_not_base64":
        env = json.dumps(dict(json.loads(gw.make().envelope()), head_sig="%%%")).encode()
        expect = (400, "bad_envelope")
    else:
        env, expect = gw.make(records=[indicator(0), "not a record"]).envelope(), (400, "bad_body")
    status, res = receiver.post(env)
    assert (status, res["status"], res["code"]) == (expect[0], "rejected", expect[1]), res
    assert receiver.stored() == before


def test_reordered_batch_names_expected_seq_and_records_a_gap(receiver, gw):
    accept_chain(receiver, gw, 1)
    b2, b3 = gw.next(), gw.next()
    status, res = receiver.post(b3.envelope())
    assert (status, res["code"], res["expected_seq"], res["seq"]) == (409, "out_of_order", 2, 3)
    receiver.post(b3.envelope())  # the same gap is recorded once, however often it is retried
    gaps = findings(receiver, "gap_observed")
    assert len(gaps) == 1
    assert gaps[0]["detail"]["expected_seq"] == 2 and gaps[0]["gateway_id"] == gw.gateway_id
    # the gateway resends in order; both are accepted
    assert receiver.post(b2.envelope())[1]["status"] == "accepted"
    assert receiver.post(b3.envelope())[1]["status"] == "accepted"


def test_equivocation_raises_an_alert(receiver, gw):
    (b1,) = accept_chain(receiver, gw, 1)
    other = gw.make(seq=1, prev=wire.GENESIS_PREV, records=[indicator(7, value=9.9)])
    status, res = receiver.post(other.envelope())
    assert (status, res["code"], res["accepted_hash"]) == (409, "equivocation", b1.hash)
    (alert,) = findings(receiver, "equivocation")
    assert alert["severity"] == "alert"
    assert alert["detail"]["accepted_hash"] == b1.hash and alert["detail"]["conflicting_hash"] == other.hash


def test_first_batch_must_start_the_chain(receiver, gw):
    status, res = receiver.post(gw.make(seq=1, prev="11" * 32).envelope())
    assert (status, res["code"]) == (409, "chain_broken")
    status, res = receiver.post(gw.make(seq=3).envelope())
    assert (status, res["code"], res["expected_seq"]) == (409, "out_of_order", 1)


def test_declared_gap_is_accepted_with_a_finding(receiver, gw):
    accept_chain(receiver, gw, 2)
    gw.next(), gw.next()  # seq 3 and 4 are lost on the gateway (e.g. disk full)
    b5 = gw.next(dropped=[3, 4])
    status, res = receiver.post(b5.envelope())
    assert (status, res) == (200, {"status": "accepted", "seq": 5, "hash": b5.hash})
    (gap,) = findings(receiver, "gap_declared")
    assert (gap["detail"]["first"], gap["detail"]["last"], gap["severity"]) == (3, 4, "data_integrity")
    accept_chain(receiver, gw, 1)  # and the chain goes on from 5
    # a declaration that does not cover the gap exactly is still out of order
    gw.next()
    status, res = receiver.post(gw.next(dropped=[6, 6]).envelope())
    assert (status, res["code"], res["expected_seq"]) == (409, "out_of_order", 7)


def test_declared_gap_from_the_start(receiver, gw):
    b = gw.make(seq=4, prev="22" * 32, dropped=[1, 3])
    assert receiver.post(b.envelope())[1]["status"] == "accepted"


def test_revoked_key_rejects_new_batches_but_acks_old_resends(receiver, gw):
    (b1,) = accept_chain(receiver, gw, 1)
    revoke_key(receiver.rdb, gw.kid)
    status, res = receiver.post(gw.make().envelope())
    assert (status, res["code"]) == (403, "revoked_key")
    assert receiver.post(b1.envelope())[1]["status"] == "duplicate"
    keys = http("GET", f"{receiver.url}/v1/gateways/{gw.gateway_id}/keys")[1]["keys"]
    assert keys[0]["revoked_at"] is not None


def test_too_large_envelope(receiver, gw):
    status, res = receiver.post(b"x" * (wire.MAX_ENVELOPE_BYTES + 1))
    assert (status, res["code"]) == (400, "too_large")


def test_empty_batch_is_accepted(receiver, gw):
    b = gw.next(records=[])
    assert receiver.post(b.envelope())[1]["status"] == "accepted"
    assert receiver.stored()[1] == []


def test_two_receivers_on_one_database_never_fork_a_chain(receiver, gw):
    """Two connections (as two receiver processes would have) race on the same batches."""
    envelopes = [gw.next(records=[indicator(i)]).envelope() for i in range(30)]
    other = ReceiverDB(receiver.db_path)
    results: list[list[str]] = [[], []]

    def run(rdb, out):
        for env in envelopes:
            out.append(ingest(rdb, env).status)

    threads = [threading.Thread(target=run, args=(db, out))
               for db, out in zip((receiver.rdb, other), results, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    for a, b in zip(*results, strict=True):
        assert sorted((a, b)) == ["accepted", "duplicate"]
    batches, records = receiver.stored()
    assert [s for _, s, _ in batches] == list(range(1, 31)) and len(records) == 30


def test_the_head_signature_is_stored_and_a_batch_without_one_is_still_accepted(receiver, gw):
    signed = gw.next()
    assert signed.head_sig is not None and receiver.post(signed.envelope())[1]["status"] == "accepted"
    older = gw.next()  # what a gateway from before head signatures sends
    assert receiver.post(wire.SignedBatch(older.body, older.sig, older.kid).envelope())[1]["status"] == "accepted"
    with receiver.rdb.read() as conn:
        stored = dict(conn.execute("SELECT seq, head_sig FROM batches"))
    assert stored == {1: signed.head_sig, 2: None}
    wire.verify_head(wire.batch_head(json.loads(signed.body), signed.hash), stored[1], bytes(gw.key.verify_key))
