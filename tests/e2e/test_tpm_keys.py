"""Keys that cannot be copied (issue 17 item 4), against a real software TPM (swtpm) on loopback.

A gateway whose key was made inside the TPM (`edgeproof init --key-store tpm`) enrolls with the
key's TPM public area and a TPM2_Certify of it; the receiver records ``tpm-attested``; the real
gateway runtime signs its batches and head statements with the TPM (ECDSA P-256); the receiver
accepts them, the bank's `feed verify` passes (also with --require-hardware-keys), and the
protection shows in the signed enterprises listing, the keys route and `cloud gateways`. The key
survives a TPM and gateway restart; an absent TPM is a one-line error that leaves an existing
identity untouched; a file key fails --require-hardware-keys.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature

from cloud_stub.feed_verify import verify_feed
from gateway import wire
from gateway.identity import IdentityError, enroll, init_identity, load_identity
from gateway.profile import load_profile
from gateway.signer_tpm import TpmError, TpmSigner
from gateway.store import Store
from tests.cloud.cloud_helpers import http
from tests.e2e.conftest import PROFILE
from tests.e2e.test_chain_http_mqtt import check_feed, run_gateway
from tests.e2e.test_disputes import doc_verifier
from tests.support.processes import ENTERPRISE, ReceiverProc, cloud, free_port, gateway_env
from tests.support.swtpm import Swtpm, require_swtpm


@pytest.fixture
def swtpm(tmp_path: Path) -> Iterator[Swtpm]:
    t = Swtpm(tmp_path / "tpm-state").start()
    yield t
    t.stop()


def edgeproof(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, timeout=60,
                          env=gateway_env())


def feed_verify(receiver: ReceiverProc, bank: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloud_stub", "feed", "verify", "--url", receiver.url, "--token",
                           bank, "--enterprise", ENTERPRISE, "--json", *extra], capture_output=True, text=True,
                          timeout=60)


def test_a_tpm_gateway_enrolls_signs_and_the_bank_verifies(tmp_path: Path, swtpm: Swtpm,
                                                           receiver_proc: ReceiverProc) -> None:
    state = tmp_path / "gw"
    got = edgeproof("init", "--state", str(state), "--profile", str(PROFILE), "--key-store", "tpm", "--tpm-tcti",
                    swtpm.tcti, "--json")
    assert got.returncode == 0, got.stderr
    out = json.loads(got.stdout)
    assert out["kid"].startswith("p256:") and out["key_store"] == "tpm"
    assert not (state / "gateway.key").exists()  # no key file: nothing on the SD card to copy
    ident = json.loads((state / "identity.json").read_text())
    assert ident["tcti"] == swtpm.tcti and ident["tpm_handle"] == "0x81010045"

    answer = enroll(state, receiver_proc.url, receiver_proc.token())
    assert answer["protection"] == "tpm-attested" and answer["kid"] == out["kid"]

    gw = run_gateway(load_profile(PROFILE), state, 2)  # the real runtime: batches and head statements by the TPM
    assert gw.sender.status.rejected == {}
    check_feed(receiver_proc, gw)  # every batch accepted, `feed verify` passes with the P-256 key
    st = Store(gw.store.path)
    head1 = st.outbox_head()
    st.close()
    bank = receiver_proc.bank_token()
    strict = feed_verify(receiver_proc, bank, "--require-hardware-keys")
    assert strict.returncode == 0, strict.stdout
    assert json.loads(strict.stdout)["key_protection"] == "tpm-attested"

    status, keys = http("GET", f"{receiver_proc.url}/v1/gateways/{out['gateway_id']}/keys")
    assert status == 200 and [k["protection"] for k in keys["keys"]] == ["tpm-attested"]
    status, listing = http("GET", f"{receiver_proc.url}/v1/feed/enterprises", token=bank)
    assert status == 200 and listing["enterprises"][0]["key_protection"] == "tpm-attested"
    # The PyNaCl-only verifier printed in docs/wire-format.md §9 checks the P-256 batches too (its gateway_verify).
    doc = doc_verifier()
    status, page = http("GET", f"{receiver_proc.url}/v1/feed/{ENTERPRISE}/records?limit=1000", token=bank)
    assert status == 200 and page["batches"]
    for h, batch in page["batches"].items():
        assert doc["check_batch"](h, batch, ENTERPRISE, {out["gateway_id"]: keys}, {})["kid"] == out["kid"]
    h, batch = next(iter(page["batches"].items()))
    forged = {**batch, "sig": base64.b64encode(bytes(64)).decode()}
    with pytest.raises(InvalidSignature):
        doc["check_batch"](h, forged, ENTERPRISE, {out["gateway_id"]: keys}, {})
    table = cloud("gateways", "--db", str(receiver_proc.db))
    assert "KEY" in table.splitlines()[0] and "tpm-attested" in table.splitlines()[1]

    # A bank requiring hardware keys refuses an enterprise whose gateway key is a file.
    file_state = tmp_path / "gw-file"
    init_identity(file_state, "gw-file", "t")
    assert enroll(file_state, receiver_proc.url, receiver_proc.token("ent-file"))["protection"] == "file"
    report = verify_feed(receiver_proc.url, "ent-file", receiver_proc.bank_token("ent-file", "bank-file"),
                         require_hardware_keys=True)
    assert report["key_protection"] == "file" and report["failed"] >= 1
    assert any("hardware keys required" in f for f in report["failures"]), report["failures"]

    # A restart of the TPM (its state kept, as on a reboot) and of the gateway: the same key, the chain goes on.
    swtpm.stop()
    swtpm.start()
    again = load_identity(state)
    assert again.kid == out["kid"] and again.protection == "tpm"
    again.signer.close()
    gw2 = run_gateway(load_profile(PROFILE), state, 1)
    assert gw2.sender.status.rejected == {} and gw2.sender.status.heads_sent >= 1
    st = Store(gw2.store.path)
    try:
        assert st.acked(gw2.sender.dest) == st.outbox_head() > head1
    finally:
        st.close()

    # Decommission: the certificate is signed by the TPM key, which is then evicted from the TPM.
    got = edgeproof("decommission", "--state", str(state), "--profile", str(PROFILE), "--certificate-dir",
                    str(tmp_path / "certs"), "--root", str(tmp_path / "root"), "--json")
    assert got.returncode == 0, got.stderr
    signed = json.loads(Path(json.loads(got.stdout)["certificate"]).read_text())
    cert = wire.verify_certificate(signed)
    assert signed["kid"] == out["kid"] and "evicted from its TPM" in cert["note"]
    assert any(d["path"].startswith("tpm:0x81010045") for d in cert["destroyed"])
    with pytest.raises(TpmError, match="holds no key at handle 0x81010045"):
        TpmSigner(swtpm.tcti, 0x81010045)


def test_an_absent_tpm_is_one_clear_line_and_leaves_the_identity_alone(tmp_path: Path) -> None:
    require_swtpm()  # tpm2-pytss, or "not installed" would be the line
    nowhere = f"swtpm:host=127.0.0.1,port={free_port()}"
    fresh = tmp_path / "fresh"
    got = edgeproof("init", "--state", str(fresh), "--profile", str(PROFILE), "--key-store", "tpm",
                    "--tpm-tcti", nowhere)
    assert got.returncode == 1 and got.stderr.count("\n") == 1, got.stderr
    assert f"no TPM answers at {nowhere}" in got.stderr and "Traceback" not in got.stderr
    assert not (fresh / "identity.json").exists()

    state = tmp_path / "gw"
    init_identity(state, "gw-file", "t")
    before = {p.name: p.read_bytes() for p in state.iterdir()}
    got = edgeproof("init", "--state", str(state), "--profile", str(PROFILE), "--key-store", "tpm",
                    "--tpm-tcti", nowhere)
    assert got.returncode == 1 and "already exists" in got.stderr
    assert {p.name: p.read_bytes() for p in state.iterdir()} == before


def test_a_tpm_identity_whose_tpm_is_gone_does_not_load(tmp_path: Path, swtpm: Swtpm) -> None:
    state = tmp_path / "gw"
    ident = init_identity(state, "gw-1", "t", key_store="tpm", tpm_tcti=swtpm.tcti)
    ident.signer.close()
    swtpm.stop()
    with pytest.raises(IdentityError, match="no TPM answers at swtpm:host=127.0.0.1"):
        load_identity(state)
    (state / "enrollment.json").write_text('{"enterprise_id": "ent-1", "receiver_url": "http://127.0.0.1:9"}')
    got = edgeproof("run", "--state", str(state), "--profile", str(PROFILE))  # the service: one line, no traceback
    assert got.returncode != 0 and "Traceback" not in got.stderr and got.stderr.strip().count("\n") == 0
    assert "identity.json: no TPM answers at swtpm:host=127.0.0.1" in got.stderr, got.stderr
    swtpm.start()
    ident = load_identity(state)
    sig = ident.signer.sign_message(b"x")
    wire.verify_signature(ident.public_key, b"x", sig)  # cryptography checks the TPM's P-256 signature
    ident.signer.close()
    with pytest.raises(IdentityError, match="already holds a key"):  # never overwrites the persistent key
        init_identity(tmp_path / "other", "gw-2", "t", key_store="tpm", tpm_tcti=swtpm.tcti)
