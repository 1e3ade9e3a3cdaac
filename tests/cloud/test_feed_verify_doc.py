"""The PyNaCl-only verifier printed in docs/wire-format.md §9, run as written against a live receiver.

So the document stays precise enough for a bank to write its own verifier: if the feed's shapes or
signatures drift from the document, this fails.
"""

from __future__ import annotations

import re
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
    insert_analysis(receiver.rdb, receiver.key, "ent-1",
                    [signed_finding("r1", ["energy.kwh", "machine.cycles"]), signed_finding("r2", ["energy.kwh"])])
    token = add_bank(receiver.rdb, "bank-e", "ent-1", "energy")["token"]
    get = lambda path: http("GET", f"{receiver.url}{path}", token=token)[1]  # noqa: E731
    keys = http("GET", f"{receiver.url}/v1/gateways/gw-a/keys")[1]["keys"]
    return {
        "records": get("/v1/feed/ent-1/records?limit=5000"),
        "scores": get("/v1/feed/ent-1/scores"),
        "findings": get("/v1/feed/ent-1/findings"),
        "receiver_pk": bytes(receiver.key.verify_key),
        "gateway_keys": {k["kid"]: wire.unb64(k["public_key"], "k") for k in keys},
    }


def run(v: dict[str, Any], f: dict[str, Any]) -> None:
    page, pk = f["records"], f["receiver_pk"]
    v["check_records_page"](page, pk)
    bodies = {h: v["check_batch"](h, b, f["gateway_keys"]) for h, b in page["batches"].items()}
    for r in page["records"]:
        v["check_record"](r, bodies)
    signed = {s["hash"] for s in page["withheld"] if v["check_stub"](s, page["enterprise_id"], f["gateway_keys"])}
    v["check_chain"](bodies, page["withheld"], signed)
    v["check_whole_page"](f["scores"], pk)
    v["check_whole_page"](f["findings"], pk)
    for item in f["scores"]["items"]:
        v["check_score"](item, pk)


def test_the_documented_verifier_accepts_a_partial_feed(feed):
    assert len(feed["records"]["withheld"]) == 3 and feed["scores"]["items"][0]["report"]["redacted"]
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


@pytest.mark.parametrize(("tamper", "message"), [
    (_record, "differs"), (_replayed, "replayed"), (_stub, "page signature"), (_score, "page signature"),
    (_finding, "page signature"),
])
def test_the_documented_verifier_rejects_tampering(feed, tamper, message):
    tamper(feed)
    with pytest.raises(AssertionError, match=message):
        run(doc_verifier(), feed)


def test_a_score_report_altered_with_its_page_resigned_fails_on_its_own_signature(feed, receiver):
    page = feed["scores"]
    page["items"][0]["report"]["score"] = 999.0
    rest = {k: v for k, v in page.items() if k != "page_signature"}
    page["page_signature"] = wire.sign_report(rest, receiver.key)
    v = doc_verifier()
    v["check_whole_page"](page, feed["receiver_pk"])
    with pytest.raises(AssertionError, match="score"):
        v["check_score"](page["items"][0], feed["receiver_pk"])


def test_a_stub_dropped_and_the_page_resigned_still_breaks_the_chain(feed, receiver):
    v = doc_verifier()
    page = feed["records"]
    page["withheld"].pop(0)
    _resign_records_page(page, receiver.key)
    v["check_records_page"](page, feed["receiver_pk"])
    bodies = {h: v["check_batch"](h, b, feed["gateway_keys"]) for h, b in page["batches"].items()}
    signed = {s["hash"] for s in page["withheld"] if v["check_stub"](s, page["enterprise_id"], feed["gateway_keys"])}
    with pytest.raises(AssertionError, match="missing"):
        v["check_chain"](bodies, page["withheld"], signed)
