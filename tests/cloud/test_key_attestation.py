"""The receiver's check of where an enrolling key lives (cloud_stub/key_attestation.py), with a real
TPM's public area and TPM2_Certify (swtpm on loopback): attested, claimed, and every way a claim
can fail to hold (another key, another enrollment's nonce, a changed signature, garbage)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import enroll, gateway_keys, issue_token
from cloud_stub.errors import ReceiverError
from cloud_stub.key_attestation import assess
from gateway import wire
from tests.support.swtpm import Swtpm

TOKEN, GW = "enr_test", "gw-1"


@pytest.fixture(scope="module")
def tpm_signer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from gateway import signer_tpm

    t = Swtpm(Path(tmp_path_factory.mktemp("tpm")) / "state").start()
    try:
        made = signer_tpm.create_key(t.tcti)
        signer = signer_tpm.TpmSigner(t.tcti, int(made["tpm_handle"], 0))
        yield signer
        signer.close()
    finally:
        t.stop()


@pytest.fixture(scope="module")
def tpm_claim(tpm_signer: Any) -> tuple[bytes, dict[str, str]]:
    return tpm_signer.public_key, {"protection": "tpm", **tpm_signer.attest(wire.attestation_nonce(TOKEN, GW))}


def test_the_receiver_records_the_level_and_a_refused_claim_keeps_the_token(tmp_path: Path, tpm_signer: Any) -> None:
    rdb = ReceiverDB(tmp_path / "r.db")
    try:
        token = issue_token(rdb, "ent-1")["token"]
        pk = wire.b64(tpm_signer.public_key)
        proof = wire.b64(wire.sign_enrollment(token, GW, tpm_signer))
        claim = {"protection": "tpm", **tpm_signer.attest(wire.attestation_nonce(token, GW))}
        with pytest.raises(ReceiverError, match="certify_sig"):
            enroll(rdb, token, GW, pk, proof, {**claim, "certify_sig": flip(claim["certify_sig"], 3)})
        out = enroll(rdb, token, GW, pk, proof, claim)  # the refusal did not use the token up
        assert out["protection"] == "tpm-attested" and out["kid"].startswith("p256:")
        assert [k["protection"] for k in gateway_keys(rdb, GW)["keys"]] == ["tpm-attested"]
    finally:
        rdb.close()


def refused(pk: bytes, claim: object, match: str) -> None:
    with pytest.raises(ReceiverError, match=match) as info:
        assess(pk, claim, TOKEN, GW)
    assert info.value.code == "bad_attestation"


def flip(b64: str, at: int, mask: int = 1) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[at] ^= mask
    return base64.b64encode(bytes(raw)).decode()


def test_levels(tpm_claim: tuple[bytes, dict[str, str]]) -> None:
    pk, claim = tpm_claim
    assert assess(pk, claim, TOKEN, GW) == "tpm-attested"
    claimed = {k: claim[k] for k in ("protection", "tpm_public")}
    assert assess(pk, claimed, TOKEN, GW) == "tpm"
    assert assess(pk, None, TOKEN, GW) == "file" == assess(pk, {"protection": "file"}, TOKEN, GW)


def test_claims_that_do_not_hold_are_refused(tpm_claim: tuple[bytes, dict[str, str]]) -> None:
    pk, claim = tpm_claim
    with pytest.raises(ReceiverError, match="another enrollment"):
        assess(pk, claim, "enr_other", GW)  # replayed from another enrollment
    refused(bytes(SigningKey.generate().verify_key), claim, "not a P-256 key")
    other = b"\x04" + bytes(64)
    refused(other, claim, "names another key")
    refused(pk, {**claim, "certify_sig": flip(claim["certify_sig"], 40)}, "does not hold")
    refused(pk, {**claim, "certify_info": flip(claim["certify_info"], -3)}, "another key|does not hold")
    refused(pk, {**claim, "ak_public": claim["tpm_public"]}, "not a restricted")
    refused(pk, {**claim, "tpm_public": flip(claim["tpm_public"], 7)}, "certifies another key")  # now restricted
    no_fixedtpm = {"protection": "tpm", "tpm_public": flip(claim["tpm_public"], 9, 0x02)}  # attributes, bit 1
    refused(pk, no_fixedtpm, "not a non-exportable signing key")
    refused(pk, {"protection": "hsm"}, "protection is file or tpm")
    refused(pk, "tpm", "must be an object")


@settings(max_examples=80, deadline=None)
@given(field=st.sampled_from(["tpm_public", "ak_public", "certify_info", "certify_sig"]),
       data=st.binary(max_size=200))
def test_garbage_in_any_field_is_a_clear_refusal(tpm_claim: tuple[bytes, dict[str, str]], field: str,
                                                  data: bytes) -> None:
    pk, claim = tpm_claim
    try:
        assess(pk, {**claim, field: base64.b64encode(data).decode()}, TOKEN, GW)
    except ReceiverError as exc:
        assert exc.code == "bad_attestation" and "key_store." in exc.message
    else:
        raise AssertionError(f"garbage {field} accepted")


def test_without_an_attestation_key_the_gateway_claims_tpm_and_the_receiver_records_tpm(tmp_path: Path) -> None:
    """An endorsement hierarchy with a password (the gateway cannot make its attestation key): enrollment
    still works and sends the public area alone; the receiver records ``tpm`` (claimed), not ``tpm-attested``."""
    from gateway.identity import init_identity, key_store_claim
    from gateway.signer_tpm import open_tpm

    t = Swtpm(tmp_path / "tpm").start()
    try:
        ident = init_identity(tmp_path / "gw", GW, "t", key_store="tpm", tpm_tcti=t.tcti)
        import tpm2_pytss

        ctx = open_tpm(t.tcti)
        ctx.hierarchy_change_auth(tpm2_pytss.ESYS_TR.ENDORSEMENT, "owner-set-this")
        ctx.close()
        claim = key_store_claim(ident, TOKEN)
        ident.signer.close()
        assert sorted(claim) == ["protection", "tpm_public"]
        assert assess(ident.public_key, claim, TOKEN, GW) == "tpm"
    finally:
        t.stop()
