"""The PyNaCl-only verifier printed in docs/wire-format.md §9, run as written against a live receiver,
every check in the document's order (V1..V28).

So the document stays precise enough for a bank to write its own verifier: if the feed's shapes or
signatures drift from the document, this fails.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from cloud_helpers import FakeGateway, http
from nacl.exceptions import BadSignatureError
from test_bank_api import CONSENT, energy, insert_analysis, machine, signed_finding

from cloud_stub.banks import add_bank
from gateway import wire

DOC = Path(__file__).resolve().parents[2] / "docs" / "wire-format.md"


def doc_verifier() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    (code,) = re.findall(r"```bank-verifier\n(.*?)\n```", text, re.S)
    ns: dict[str, Any] = {}
    exec(code, ns)  # noqa: S102 - the document's own code
    return ns


@pytest.fixture
def feed(receiver) -> dict[str, Any]:
    """An energy-only bank's view: shown and withheld batches, a declared gap, a redacted score."""
    a = FakeGateway("gw-a", "ent-1")
    receiver.enroll(a)
    for recs in ([CONSENT, energy(0)], [machine(0)], [energy(1), machine(1)], [energy(2)]):
        receiver.post(a.next(records=recs).envelope())
    a.seq += 2  # the gateway lost seq 5..6 and says so
    receiver.post(a.next(records=[machine(2)], dropped=[5, 6]).envelope())
    receiver.post(a.next(records=[energy(3)]).envelope())
    # the gateway's signed word on its head (§10): the chain served must reach it
    st = wire.head_statement("gw-a", "ent-1", a.kid, a.seq, a.prev, time.time() - 60, heads_from=1)
    assert http("POST", f"{receiver.url}/v1/heads", wire.sign_head_statement(st, a.key).envelope())[0] == 200
    insert_analysis(receiver.rdb, receiver.key, "ent-1",
                    [signed_finding("r1", ["energy.kwh", "machine.cycles"]), signed_finding("r2", ["energy.kwh"])])
    token = add_bank(receiver.rdb, "bank-e", "ent-1", "energy")["token"]
    get = lambda path: http("GET", f"{receiver.url}{path}", token=token)[1]  # noqa: E731
    return {
        "receiver_key": http("GET", f"{receiver.url}/v1/receiver/key")[1],
        "enterprises": get("/v1/feed/enterprises"),
        "records": get("/v1/feed/ent-1/records?limit=5000"),
        "indicators": get("/v1/feed/ent-1/indicators"),
        "scores": get("/v1/feed/ent-1/scores"),
        "latest": get("/v1/feed/ent-1/scores/latest"),
        "findings": get("/v1/feed/ent-1/findings"),
        "alerts": get("/v1/feed/ent-1/alerts"),
        "heads": get("/v1/feed/ent-1/heads"),
        "disputes": get("/v1/feed/ent-1/disputes"),
        "access_log": _access_log(receiver, get),
        "gateway": a,
        "receiver_pk": bytes(receiver.key.verify_key),
        "keys_of": {"gw-a": http("GET", f"{receiver.url}/v1/gateways/gw-a/keys")[1]},
    }


def _access_log(receiver, get) -> dict[str, Any]:
    """The access-log page once the reads above are written (the receiver writes them within a moment)."""
    deadline = time.monotonic() + 10
    while True:
        page = get("/v1/feed/ent-1/access-log")
        if len([i for i in page["items"] if i["actor_kind"] == "bank"]) >= 7 or time.monotonic() > deadline:
            return page
        time.sleep(0.05)


def run(v: dict[str, Any], f: dict[str, Any]) -> None:
    """Every check of docs/wire-format.md §9, in order, with the document's own functions."""
    pk = v["check_receiver_key"](f["receiver_key"], f["receiver_pk"])  # V1
    for name in ("enterprises", "indicators", "scores", "latest", "findings", "alerts", "heads", "disputes",
                 "access_log"):
        v["check_whole_page"](f[name], pk)  # V2
    page = f["records"]
    v["check_records_page"](page, pk)  # V3
    for name in ("records", "indicators", "scores", "findings", "alerts", "access_log"):
        v["check_page_request"](f[name], "ent-1", None)  # V4
    v["check_cursors"]([None])  # V5: one page each here
    granted = v["check_grant"](f["enterprises"], "ent-1")  # V6
    heads_page = f["heads"]  # read before the records; V27 runs once the chain served is known
    seen: dict[str, Any] = {}
    bodies = {}
    for h, b in page["batches"].items():
        bodies[h] = v["check_batch"](h, b, "ent-1", f["keys_of"], {})  # V7-V10
        v["check_batch_again"](seen, h, b)  # V11
    delivered: dict[str, set[int]] = {}
    ids: set[int] = set()
    for r in page["records"]:
        v["check_record"](r, bodies, delivered, ids)  # V12-V17
    signed = {s["hash"] for s in page["withheld"]
              if v["check_stub"](s, page["enterprise_id"], f["keys_of"], {})}  # V18
    v["check_withheld"](page["withheld"], bodies, granted)  # V19
    v["check_complete"](bodies, delivered)  # V20
    v["check_chain"](bodies, page["withheld"], signed)  # V21-V23
    for entry in heads_page["gateways"]:
        served = {b["seq"]: h for h, b in bodies.items() if b["gateway"] == entry["gateway_id"]}
        served |= {s["seq"]: s["hash"] for s in page["withheld"] if s["gateway_id"] == entry["gateway_id"]}
        froms = [b["heads_from"] for b in bodies.values() if "heads_from" in b]
        v["check_heads"](entry, "ent-1", f["keys_of"], {}, served, page["withheld"], signed,
                         min(froms, default=None))  # V27
    for chain in ("finding", "alert"):
        v["check_item_chain"](chain, f[chain + "s"]["items"])  # V28 (R1-R3)
    v["check_disputes"](f["disputes"], pk, "ent-1", {r["id"]: r for r in page["records"]},
                        f["findings"]["items"])  # V43-V46
    for item in [*f["scores"]["items"], f["latest"]["item"]]:
        v["check_score"](item, pk, "ent-1")  # V24
    verified = {r["id"]: r for r in page["records"]}
    for item in f["indicators"]["items"]:
        v["check_indicator"](item, verified)  # V25
    v["check_indicators_complete"](f["indicators"]["items"], verified)  # V26
    for item in f["scores"]["items"]:
        v["check_order_progress"](item["report"], verified)  # V55-V56 (§23)
    if "access_log" in f:
        v["check_access_log"](f["access_log"]["items"], f["access_log"]["head"], "ent-1")  # V33-V36


def test_the_documented_verifier_accepts_a_partial_feed(feed):
    assert len(feed["records"]["withheld"]) == 3 and feed["scores"]["items"][0]["report"]["redacted"]
    assert feed["indicators"]["items"] and feed["alerts"]["items"]
    assert all(s["head_sig"] and s["prev"] for s in feed["records"]["withheld"])  # every stub signed
    run(doc_verifier(), feed)


def _resign_records_page(page, key):
    """What a dishonest receiver does after altering a page: sign it again with its own key."""
    shape = {"enterprise_id": page["enterprise_id"], "cursor": page["cursor"], "next_cursor": page["next_cursor"],
             "record_ids": [r["id"] for r in page["records"]], "batch_hashes": list(page["batches"]),
             "locators": [[r["id"], r["batch_hash"], r["index"]] for r in page["records"]],
             "withheld": page["withheld"]}
    page["page_signature"] = wire.sign_report(shape, key)


@pytest.mark.parametrize(("field", "value"), [
    ("categories", ["machine", "quality"]),  # says it holds something else
    ("prev", "ab" * 32),  # places it elsewhere in the chain
    ("record_count", 0),
    ("dropped", [1, 1]),  # invents a declared gap
])
def test_a_stub_the_receiver_altered_and_resigned_fails_on_the_gateways_head_signature(feed, receiver, field,
                                                                                        value):
    page = feed["records"]
    page["withheld"][0][field] = value
    _resign_records_page(page, receiver.key)
    with pytest.raises(BadSignatureError):
        run(doc_verifier(), feed)


def _record(f):
    f["records"]["records"][0]["record"]["value"] = 1e6


def _replayed(f):
    f["records"]["records"][0]["replayed"] = True


def _stub(f):
    f["records"]["withheld"].pop(0)


def _score(f):
    f["scores"]["items"][0]["report"]["score"] = 999.0


def _finding(f):
    f["findings"]["items"][0]["severity"] = "info"


def _float_as_int(f):
    """10.0 signed, 10 served: Python's == says equal; the exact comparison does not."""
    rec = next(r for r in f["records"]["records"] if r["record"].get("value") == 10.0)
    rec["record"]["value"] = 10


def _indicator(f):
    f["indicators"]["items"][0]["value"] = 1e6


def _indicator_gone(f):
    f["indicators"]["items"].pop(0)


def _other_receiver_key(f):
    f["receiver_key"] = dict(f["receiver_key"], public_key=wire.b64(bytes(32)))


@pytest.mark.parametrize(("tamper", "message"), [
    (_record, "V16"), (_replayed, "V17"), (_stub, "V3"), (_score, "V2"), (_finding, "V2"),
    (_float_as_int, "V16"), (_indicator, "V2"), (_other_receiver_key, "V1"),
])
def test_the_documented_verifier_rejects_tampering(feed, tamper, message):
    tamper(feed)
    with pytest.raises(AssertionError, match=message):
        run(doc_verifier(), feed)


def _resign_whole(page, key):
    page["page_signature"] = wire.sign_report({k: v for k, v in page.items() if k != "page_signature"}, key)


@pytest.mark.parametrize(("tamper", "message"), [(_indicator, "V25"), (_indicator_gone, "V26")])
def test_an_indicators_page_altered_and_resigned_fails_against_the_records(feed, receiver, tamper, message):
    tamper(feed)
    _resign_whole(feed["indicators"], receiver.key)
    with pytest.raises(AssertionError, match=message):
        run(doc_verifier(), feed)


def test_a_record_left_out_and_the_page_resigned_fails_completeness(feed, receiver):
    page = feed["records"]
    page["records"] = [r for r in page["records"] if r["index"] != 1]  # seq 1 holds CONSENT and energy(0)
    _resign_records_page(page, receiver.key)
    with pytest.raises(AssertionError, match="V20"):
        run(doc_verifier(), feed)


def test_a_key_of_another_gateway_is_refused(feed):
    feed["keys_of"]["gw-a"] = dict(feed["keys_of"]["gw-a"], enterprise_id="ent-2")
    with pytest.raises(AssertionError, match="V7"):
        run(doc_verifier(), feed)


def test_a_score_report_altered_with_its_page_resigned_fails_on_its_own_signature(feed, receiver):
    page = feed["scores"]
    page["items"][0]["report"]["score"] = 999.0
    rest = {k: v for k, v in page.items() if k != "page_signature"}
    page["page_signature"] = wire.sign_report(rest, receiver.key)
    v = doc_verifier()
    v["check_whole_page"](page, feed["receiver_pk"])
    with pytest.raises(AssertionError, match="V24"):
        v["check_score"](page["items"][0], feed["receiver_pk"], "ent-1")


def test_a_stub_dropped_and_the_page_resigned_still_breaks_the_chain(feed, receiver):
    v = doc_verifier()
    page = feed["records"]
    page["withheld"].pop(0)
    _resign_records_page(page, receiver.key)
    v["check_records_page"](page, feed["receiver_pk"])
    bodies = {h: v["check_batch"](h, b, "ent-1", feed["keys_of"], {}) for h, b in page["batches"].items()}
    signed = {s["hash"] for s in page["withheld"] if v["check_stub"](s, page["enterprise_id"], feed["keys_of"], {})}
    with pytest.raises(AssertionError, match="V23"):
        v["check_chain"](bodies, page["withheld"], signed)


def test_a_truncated_tail_fails_on_the_gateways_signed_head(feed, receiver):
    """The gateway signed a head beyond what the receiver serves (its newest batch deleted): V27 names it."""
    a = feed["gateway"]
    st = wire.head_statement("gw-a", "ent-1", a.kid, a.seq + 1, "ab" * 32, time.time(), heads_from=1)
    assert http("POST", f"{receiver.url}/v1/heads", wire.sign_head_statement(st, a.key).envelope())[0] == 200
    token = add_bank(receiver.rdb, "bank-e2", "ent-1", "energy")["token"]
    feed = {**feed, "heads": http("GET", f"{receiver.url}/v1/feed/ent-1/heads", token=token)[1]}
    with pytest.raises(AssertionError, match="V27 H2"):
        run(doc_verifier(), feed)
