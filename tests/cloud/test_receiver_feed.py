"""The bank feed over real HTTP: auth, cursor pagination, page signatures, and the bank's verifier."""

from __future__ import annotations

import pytest
from cloud_helpers import FakeGateway, http, indicator

from cloud_stub.banks import add_bank, revoke_grant
from cloud_stub.feed_verify import verify_feed
from gateway import wire


def post_chain(receiver, gw: FakeGateway, sizes: list[int]) -> None:
    for n in sizes:
        b = gw.next(records=[indicator(gw.seq * 10 + i, value=float(i)) for i in range(n)])
        assert receiver.post(b.envelope())[1]["status"] == "accepted"


@pytest.fixture
def populated(receiver):
    """Two gateways of ent-1 (interleaved, with an empty batch), one of ent-2; a bank for ent-1."""
    a, b = FakeGateway("gw-a", "ent-1"), FakeGateway("gw-b", "ent-1")
    c = FakeGateway("gw-c", "ent-2")
    for g in (a, b, c):
        receiver.enroll(g)
    post_chain(receiver, a, [5, 3])
    post_chain(receiver, c, [4])
    post_chain(receiver, b, [6, 0, 2])
    post_chain(receiver, a, [4])
    token = add_bank(receiver.rdb, "bank-1", "ent-1")["token"]
    receiver.gateways = {g.gateway_id: g for g in (a, b, c)}
    return receiver, token


def records_url(receiver, ent: str = "ent-1", **q) -> str:
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    return f"{receiver.url}/v1/feed/{ent}/records" + (f"?{qs}" if qs else "")


def test_feed_requires_a_bank_authorised_by_the_enterprise(populated):
    receiver, token = populated
    assert http("GET", records_url(receiver))[0] == 401
    status, out = http("GET", records_url(receiver), token="bank_wrong")
    assert (status, out["status"], out["code"]) == (401, "error", "unauthenticated")
    assert http("GET", records_url(receiver, "ent-2"), token=token)[0] == 403
    assert http("GET", records_url(receiver, "no-such-ent"), token=token)[0] == 403
    assert http("GET", f"{receiver.url}/v1/feed/ent-1/findings", token=token)[0] == 200
    assert http("GET", f"{receiver.url}/v1/feed/ent-2/findings", token=token)[0] == 403
    revoke_grant(receiver.rdb, "bank-1", "ent-1")
    assert http("GET", records_url(receiver), token=token)[0] == 403


def test_pagination_returns_every_record_once_with_signed_pages(populated):
    receiver, token = populated
    receiver_pk = bytes(receiver.key.verify_key)
    seen, batch_hashes, cursor, pages = [], set(), None, 0
    while True:
        q = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        status, page = http("GET", records_url(receiver, **q), token=token)
        assert status == 200, page
        pages += 1
        signed = wire.verify_report(page["page_signature"], receiver_pk)
        assert signed["record_ids"] == [r["id"] for r in page["records"]]
        assert signed["batch_hashes"] == list(page["batches"])
        assert signed["cursor"] == cursor and signed["next_cursor"] == page["next_cursor"]
        for r in page["records"]:
            assert r["batch_hash"] in page["batches"]
        seen += page["records"]
        batch_hashes |= set(page["batches"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [r["id"] for r in seen]
    assert len(ids) == 5 + 3 + 6 + 2 + 4 and len(set(ids)) == len(ids) and ids == sorted(ids)
    assert {r["gateway_id"] for r in seen} == {"gw-a", "gw-b"}
    assert pages == 5
    assert len(batch_hashes) == 6  # includes the empty batch of gw-b
    # the same cursor always gives the same page
    first = http("GET", records_url(receiver, limit=4), token=token)[1]
    again = http("GET", records_url(receiver, limit=4), token=token)[1]
    assert first["records"] == again["records"] and first["next_cursor"] == again["next_cursor"]
    assert http("GET", records_url(receiver, cursor="garbage!"), token=token)[0] == 400
    assert http("GET", records_url(receiver, limit=5001), token=token)[0] == 400


def test_feed_verify_passes_on_a_good_feed(populated):
    receiver, token = populated
    pin = wire.b64(bytes(receiver.key.verify_key))
    summary = verify_feed(receiver.url, "ent-1", token, pin, page_limit=3)
    assert summary["failures"] == []
    assert (summary["records"], summary["verified"], summary["failed"]) == (20, 20, 0)
    assert summary["batches"] == 6 and summary["gateways"] == ["gw-a", "gw-b"]


def test_feed_verify_fails_when_a_stored_body_byte_is_corrupted(populated):
    receiver, token = populated
    with receiver.rdb.write() as conn:
        h, body = conn.execute(
            "SELECT hash, body FROM batches WHERE gateway_id = 'gw-a' ORDER BY seq LIMIT 1"
        ).fetchone()
        body = bytearray(body)
        body[len(body) // 2] ^= 0x01
        conn.execute("UPDATE batches SET body = ? WHERE hash = ?", (bytes(body), h))
    summary = verify_feed(receiver.url, "ent-1", token)
    assert summary["failed"] >= 5 and summary["verified"] == 15
    assert any(h[:16] in f for f in summary["failures"])


def test_feed_verify_fails_on_altered_or_withheld_records(populated):
    receiver, token = populated
    with receiver.rdb.write() as conn:
        sql = "SELECT id FROM records WHERE gateway_id = 'gw-b' ORDER BY id LIMIT 1"
        rid = conn.execute(sql).fetchone()[0]
        conn.execute("UPDATE records SET record = json_set(record, '$.value', 1000.0) WHERE id = ?", (rid,))
        conn.execute("DELETE FROM records WHERE id = (SELECT max(id) FROM records WHERE gateway_id = 'gw-a')")
    summary = verify_feed(receiver.url, "ent-1", token)
    assert summary["failed"] == 2, summary["failures"]
    assert any("differs from the signed batch" in f for f in summary["failures"])
    assert any("withheld" in f for f in summary["failures"])


def test_feed_verify_fails_on_a_wrong_pin_and_a_bad_token(populated):
    receiver, token = populated
    other = wire.b64(b"\x01" * 32)
    assert verify_feed(receiver.url, "ent-1", token, other)["failed"] > 0
    summary = verify_feed(receiver.url, "ent-1", "bank_wrong")
    assert summary["records"] == 0 and summary["failed"] > 0


def test_findings_feed_shows_the_enterprises_findings(populated):
    receiver, token = populated
    a = receiver.gateways["gw-a"]
    status, _ = receiver.post(a.make(seq=9).envelope())  # seq 4 is expected
    assert status == 409
    status, out = http("GET", f"{receiver.url}/v1/feed/ent-1/findings", token=token)
    assert status == 200
    (f,) = out["findings"]
    assert (f["kind"], f["gateway_id"], f["detail"]["expected_seq"]) == ("gap_observed", "gw-a", 4)
    assert set(f) >= {"id", "kind", "gateway_id", "detail", "created"}
