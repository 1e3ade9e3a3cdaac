"""A dispute travelling through real parts and back (issue 16 items 2 and 3):

the receiver raises a real finding (the gateway's key signed two different batches 1: an
equivocation) -> the gateway fetches its enterprise's view with a request signed by its key
(`edgeproof view --fetch`) and sees the finding with its hash and numbers -> staff contest it
(`edgeproof dispute add`) and confirm the measures in force (`edgeproof confirm`) -> the running
gateway signs both into its chain (consent grants only ``energy``: they reach the bank anyway) ->
the bank sees the dispute beside the finding, ``open`` -> the bank rejects it with its reason
(bank API) -> the receiver-signed decision comes back in the gateway's view and in `dispute list`,
and the bank's `feed verify` passes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cloud_stub import receiver_key
from gateway import wire
from gateway.identity import load_identity
from gateway.profile import load_profile
from tests.cloud.cloud_helpers import http
from tests.e2e.conftest import PROFILE
from tests.e2e.test_chain_http_mqtt import run_gateway
from tests.support.processes import ENTERPRISE, ReceiverProc, cloud, gateway_env

CONSENT = '\n[consent]\n\n[[consent.grants]]\ncategories = ["energy"]\nto = "bank-test"\n'


DOC = Path(__file__).resolve().parents[2] / "docs" / "wire-format.md"


def doc_verifier() -> dict[str, Any]:
    """The PyNaCl-only verifier printed in docs/wire-format.md §9 (as tests/cloud/test_feed_verify_doc.py runs it)."""
    (code,) = re.findall(r"```bank-verifier\n(.*?)\n```", DOC.read_text(encoding="utf-8"), re.S)
    ns: dict[str, Any] = {}
    exec(code, ns)  # noqa: S102 - the document's own code
    return ns


def edgeproof(state: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args, "--state", str(state), "--profile",
                           str(profile)], capture_output=True, text=True, timeout=60, env=gateway_env())


def _profile(tmp_path: Path) -> Path:
    text = PROFILE.read_text(encoding="utf-8")
    head, devices = text.split("\n[[devices]]", 1)
    head = head.replace('simulated = true', 'simulated = true\ncomplaint_contact = "EdgeProof desk 400-000-0000"')
    prof = tmp_path / "p.toml"
    prof.write_text(head + CONSENT + "\n[[devices]]" + devices, encoding="utf-8")
    return prof


def _equivocate(state: Path, url: str) -> None:
    """Sign a second, different batch 1 with the gateway's own key: the receiver records an equivocation."""
    ident = load_identity(state)
    body = {"v": 1, "gateway": ident.gateway_id, "enterprise": ident.enterprise_id, "kid": ident.kid, "seq": 1,
            "prev": wire.GENESIS_PREV, "boot": 99, "created": "2026-11-27T00:00:00.000Z",
            "clock": {"synced": True, "source": "kernel"},
            "loss": {"polls_failed": 0, "readings_purged_unsent": 0, "batches_dropped": 0}, "records": []}
    status, answer = http("POST", f"{url}/v1/batches", wire.sign_body(body, ident.signing_key).envelope())
    assert status == 409 and answer["code"] == "equivocation", answer


def test_a_dispute_travels_from_the_cli_to_the_bank_and_back(tmp_path: Path, receiver_proc: ReceiverProc,
                                                             enrolled_state: Path) -> None:
    prof = _profile(tmp_path)
    state = enrolled_state
    bank = receiver_proc.bank_token()
    gw = run_gateway(load_profile(prof), state, 2)
    assert gw.sender.status.rejected == {}
    _equivocate(state, receiver_proc.url)
    cloud("analyse", "--db", str(receiver_proc.db), "--enterprise", ENTERPRISE)

    # Item 2: the enterprise sees what the bank sees, fetched with its gateway's signed request.
    got = edgeproof(state, prof, "view", "--fetch", "--json")
    assert got.returncode == 0, got.stderr
    doc = json.loads(got.stdout)
    assert (state / "enterprise_view.json").stat().st_mode & 0o777 == 0o600
    view = doc["view"]
    assert view["score"]["report"]["enterprise_id"] == ENTERPRISE and view["warning_level"] is not None
    equiv = next(f for f in view["findings"] if f["kind"] == "equivocation")
    assert len(equiv["hash"]) == 64 and equiv["detail"]
    text = edgeproof(state, prof, "view").stdout
    assert f"#{equiv['id']} alert equivocation" in text and "Questions or complaints: EdgeProof desk" in text
    assert "Who looked at your data:" in text

    # Item 3: contest it, confirm the measures; a bad hash is refused naming the option.
    bad = edgeproof(state, prof, "dispute", "add", "--finding", "abc", "--kind", "contest", "--note", "x")
    assert bad.returncode == 2 and "--finding" in bad.stderr and "64 hex" in bad.stderr
    bad = edgeproof(state, prof, "dispute", "add", "--finding", equiv["hash"], "--kind", "contest")
    assert bad.returncode == 2 and "--note" in bad.stderr
    got = edgeproof(state, prof, "dispute", "add", "--finding", equiv["hash"], "--kind", "contest", "--finding-id",
                    str(equiv["id"]), "--note", "a technician restored an old SD card image; not a second device",
                    "--json")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["signed_in_batch"] is None
    got = edgeproof(state, prof, "confirm", "--note", "Li Wei, finance")
    assert got.returncode == 0 and "confirmation #2" in got.stdout, got.stderr
    run_gateway(load_profile(prof), state, 1.5)
    listed = json.loads(edgeproof(state, prof, "dispute", "list", "--json").stdout)
    assert [i["signed_in_batch"] is not None for i in listed] == [True, True]
    assert listed[1]["measures"]["consent"]["allowed"] == ["energy"]
    audit = json.loads(edgeproof(state, prof, "audit", "verify", "--json").stdout)
    assert audit["ok"] is True, audit  # the gateway's own log of what left holds the disputes' batch too

    gw_id = load_identity(state).gateway_id
    status, page = http("GET", f"{receiver_proc.url}/v1/feed/{ENTERPRISE}/disputes", token=bank)
    assert status == 200, page
    dispute, confirmation = page["items"]
    assert dispute["key"] == f"{gw_id}/1" and dispute["status"] == "open" and dispute["decisions"] == []
    assert dispute["finding"]["id"] == equiv["id"] and dispute["finding"]["hash"] == equiv["hash"]
    assert dispute["record"]["note"].startswith("a technician") and dispute["record"]["category"] == "dispute"
    assert confirmation["type"] == "confirmation" and confirmation["status"] == "recorded"

    decide = f"{receiver_proc.url}/v1/feed/{ENTERPRISE}/disputes/{gw_id}/1/decision"
    assert http("POST", decide, {"decision": "rejected", "reason": "x"})[0] == 401
    assert http("POST", decide, {"decision": "rejected"}, token=bank)[1]["code"] == "bad_request"
    assert http("POST", decide.replace("/1/", "/2/"), {"decision": "accepted"}, token=bank)[0] == 404
    status, out = http("POST", decide, {"decision": "rejected", "reason": "the second batch 1 came from your key"},
                       token=bank)
    assert status == 200, out
    receiver_pk = wire.unb64(load_identity(state).enrollment["receiver_public_key"], "receiver key")
    signed = wire.verify_report(out["signature"], receiver_pk)  # the receiver's word, checkable by anyone
    assert signed == out["decision"] and signed["decision"] == "rejected" and signed["finding"] == equiv["hash"]
    assert signed["bank"] == "bank-test" and signed["dispute_id"] == 1 and signed["gateway_id"] == gw_id
    assert http("POST", decide, {"decision": "accepted"}, token=bank)[1]["code"] == "already_decided"
    status, page = http("GET", f"{receiver_proc.url}/v1/feed/{ENTERPRISE}/disputes", token=bank)
    assert page["items"][0]["status"] == "rejected"

    # ... and back: the gateway's view and `dispute list` show the bank's decision and reason.
    got = edgeproof(state, prof, "view", "--fetch")
    assert got.returncode == 0, got.stderr
    assert f"{gw_id}/1 dispute.contest finding #{equiv['id']}: rejected (bank-test rejected: the second" in got.stdout
    text = edgeproof(state, prof, "dispute", "list").stdout
    assert "status: bank-test: rejected (the second batch 1 came from your key)" in text
    ops = subprocess.run([sys.executable, "-m", "cloud_stub", "dispute", "list", "--db", str(receiver_proc.db),
                          "--enterprise", ENTERPRISE], capture_output=True, text=True, timeout=60).stdout
    assert f"{gw_id}/1 dispute.contest" in ops and "rejected (bank-test rejected" in ops
    cloud("analyse", "--db", str(receiver_proc.db), "--enterprise", ENTERPRISE)  # the rules read past them
    v = receiver_proc.verify(bank)
    assert v["failed"] == 0 and v["disputes"] == 2 and v["scores"] == 2, v

    # The documented PyNaCl-only checks (wire-format §9, V43-V46) accept the page as served, and fail it
    # when the receiver changes its own decision afterwards, even re-signing the page with its key.
    doc = doc_verifier()
    page = http("GET", f"{receiver_proc.url}/v1/feed/{ENTERPRISE}/disputes", token=bank)[1]
    findings = http("GET", f"{receiver_proc.url}/v1/feed/{ENTERPRISE}/findings", token=bank)[1]["items"]
    verified = {r["id"]: r for r in receiver_proc.feed(bank)}
    doc["check_disputes"](page, receiver_pk, ENTERPRISE, verified, findings)
    page["items"][0]["decisions"][0]["reason"] = "accepted after all"
    page["page_signature"] = wire.sign_report({k: x for k, x in page.items() if k != "page_signature"},
                                              receiver_key.load_or_create(receiver_key.default_key_path(
                                                  str(receiver_proc.db))))
    with pytest.raises(AssertionError, match="V46"):
        doc["check_disputes"](page, receiver_pk, ENTERPRISE, verified, findings)
    page["items"][0]["decisions"] = []
    page["page_signature"] = wire.sign_report({k: x for k, x in page.items() if k != "page_signature"},
                                              receiver_key.load_or_create(receiver_key.default_key_path(
                                                  str(receiver_proc.db))))
    with pytest.raises(AssertionError, match="V46"):  # status 'rejected' without the decision
        doc["check_disputes"](page, receiver_pk, ENTERPRISE, verified, findings)
