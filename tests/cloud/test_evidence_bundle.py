"""Evidence bundles: export from a real receiver, RFC 3161 tokens from a real (loopback OpenSSL) TSA, offline
verification, and every part of a bundle tampered with giving a clear error."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cloud_helpers import T0, FakeGateway, http, indicator, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from cloud_stub import access_log, analysis, feed_chain, receiver_key, timestamps
from cloud_stub.banks import add_bank
from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import issue_token
from cloud_stub.evidence_bundle import EVIDENCE_PREFIX, export_bundle, normalise_time, write_tar
from cloud_stub.http_api import create_app
from cloud_stub.server import Running
from gateway import evidence_verify, wire
from gateway.cli import cli as gateway_cli
from tests.support.tsa import LoopbackTSA, make_ca_and_tsa

CONSENT = {"type": "consent", "name": "consent.change", "category": "consent", "subject": "site",
           "window": {"start": T0, "len": 0}, "event": "initial", "allowed": ["energy"]}


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Any:
    t = LoopbackTSA(tmp_path_factory.mktemp("tsa"))
    yield t
    t.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, tsa: LoopbackTSA) -> Any:
    """A receiver with one enterprise: two gateways' chains (one with a declared gap), consent, a bank that read
    the feed, a score, timestamps from the TSA; exported once."""
    d = tmp_path_factory.mktemp("site")
    rdb = ReceiverDB(d / "receiver.db")
    key = receiver_key.load_or_create(d / "receiver.key")
    app = create_app(rdb, key)
    running = Running(app)
    try:
        for gw_id in ("gw-a", "gw-b"):
            gw = FakeGateway(gateway_id=gw_id)
            token = issue_token(rdb, "ent-1")["token"]
            assert http("POST", f"{running.url}/v1/enroll", gw.enroll_request(token))[0] == 200
            assert http("POST", f"{running.url}/v1/batches", gw.next([CONSENT, indicator(0)]).envelope())[0] == 200
            for i in range(1, 4):
                assert http("POST", f"{running.url}/v1/batches", gw.next([indicator(i)]).envelope())[0] == 200
            if gw_id == "gw-b":  # seq 5, 6 lost on the gateway, declared
                b = gw.make(seq=7, records=[indicator(9)], dropped=[5, 6])
                assert http("POST", f"{running.url}/v1/batches", b.envelope())[0] == 200
        other = FakeGateway(gateway_id="gw-other", enterprise="ent-2")
        assert http("POST", f"{running.url}/v1/enroll", other.enroll_request(issue_token(rdb, "ent-2")["token"]))[0] \
            == 200
        assert http("POST", f"{running.url}/v1/batches", other.next().envelope())[0] == 200
        bank = add_bank(rdb, "bank-1", "ent-1")["token"]
        assert http("GET", f"{running.url}/v1/feed/ent-1/records", token=bank)[0] == 200
        wait_for(lambda: len(access_log.excerpt(rdb, "ent-1")) >= 10)
        analysis.analyse(rdb, "ent-1", as_of=T0 + 86400, days=30, signing_key=key)
        first = timestamps.stamp(rdb, tsa.url)  # the daily run
        info = export_bundle(rdb, "ent-1", d / "ent-1.tar", key=key, tsa_url=tsa.url, tsa_ca=tsa.ca_pem)
    finally:
        running.stop()
        app.state.access_log.close()
    yield {"rdb": rdb, "key": key, "path": d / "ent-1.tar", "info": info, "first": first, "dir": d}
    rdb.close()


def test_an_exported_bundle_verifies_offline(site: Any, tsa: LoopbackTSA) -> None:
    info = site["info"]
    c = info["counts"]
    assert c["gateways"] == 2 and c["batches"] == 9 and c["consent_records"] == 2 and c["scores"] == 1
    assert c["findings"] >= 1 and c["access_log_entries"] >= 11  # 9 batches, a bank read, the export itself
    assert c["timestamps"] >= 3  # two chain tips and the access-log head (daily), and again at export
    assert {t["kind"] for t in site["first"]} == {"chain_tip", "access_log_head", "access_log"}
    res = evidence_verify.verify_bundle(site["path"])
    assert res.ok, res.failures
    s = res.summary
    assert s["gateways"]["gw-b"] == {"batches": 5, "first_seq": 1, "last_seq": 7, "keys": 1}
    assert s["timestamps"]["verified"] == c["timestamps"] and s["timestamps"]["tsa"] == ["CN=EdgeProof test TSA"]
    assert "bank:bank-1" in s["access_log_actors"] and "operator:operator" in s["access_log_actors"]
    # what the tokens anchor: each chain up to its last batch, and the access log up to the export's entry
    assert s["anchored"]["gateway gw-a"]["what"] == "seq 4" and s["anchored"]["gateway gw-b"]["what"] == "seq 7"
    assert s["anchored"]["access log"]["n"] == max(e["id"] for e in access_log.excerpt(site["rdb"], "ent-1"))
    # nothing of the other enterprise
    with tarfile.open(site["path"]) as tar:
        names = tar.getnames()
    assert not any("gw-other" in n for n in names)
    assert oct(site["path"].stat().st_mode & 0o777) == "0o600"


def test_the_cli_verifies_and_pins(site: Any, tsa: LoopbackTSA, tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "ca.pem").write_bytes(tsa.ca_pem)
    pk = receiver_key.public_info(site["key"])["public_key"]
    out = runner.invoke(gateway_cli, ["evidence", "verify", str(site["path"]), "--tsa-ca", str(tmp_path / "ca.pem"),
                                      "--receiver-key", pk])
    assert out.exit_code == 0, out.output
    assert "OK: every check passed" in out.output and "trusted timestamps:" in out.output
    assert "(CA pinned)" in out.output and "(pinned)" in out.output
    assert "gateway gw-b: existed up to seq 7 by " in out.output
    other = wire.b64(bytes(SigningKey.generate().verify_key))
    bad = runner.invoke(gateway_cli, ["evidence", "verify", str(site["path"]), "--receiver-key", other, "--json"])
    assert bad.exit_code == 1
    assert any("manifest" in f for f in json.loads(bad.stdout)["failures"])


def test_openssl_alone_verifies_a_token(site: Any, tsa: LoopbackTSA, tmp_path: Path) -> None:
    """docs/evidence.md: an expert without EdgeProof checks a token with openssl ts -verify."""
    with tarfile.open(site["path"]) as tar:
        index = json.loads(tar.extractfile("timestamps/index.json").read())["tokens"]
        t = index[0]
        (tmp_path / "token.tst").write_bytes(tar.extractfile(t["file"]).read())
    (tmp_path / "ca.pem").write_bytes(tsa.ca_pem)
    imprint = hashlib.sha256(t["subject"].encode()).hexdigest()
    out = subprocess.run(["openssl", "ts", "-verify", "-digest", imprint, "-in", str(tmp_path / "token.tst"),
                          "-token_in", "-CAfile", str(tmp_path / "ca.pem")], capture_output=True, text=True,
                         timeout=30)
    assert "Verification: OK" in out.stdout, out.stderr


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def _resign(files: dict[str, bytes], key: SigningKey) -> None:
    """What a dishonest receiver could do: rewrite the manifest to match and sign it again."""
    manifest = json.loads(files["manifest.json"])
    manifest["files"] = [{"path": p, "sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
                         for p, b in sorted(files.items()) if p not in ("manifest.json", "manifest.sig", "_other_ca")]
    files["manifest.json"] = wire.canonical_json(manifest) + b"\n"
    files["manifest.sig"] = key.sign(EVIDENCE_PREFIX + files["manifest.json"]).signature


def _flip(data: bytes, at: int = -10) -> bytes:
    b = bytearray(data)
    b[at] ^= 0x01
    return bytes(b)


def _edit_json(files: dict[str, bytes], name: str, edit: Any) -> None:
    doc = json.loads(files[name])
    edit(doc)
    files[name] = wire.canonical_json(doc) + b"\n"


def _token_name(files: dict[str, bytes]) -> str:
    return sorted(n for n in files if n.endswith(".tst"))[0]


TAMPER = {
    "batch byte": (lambda f, k: f.update({"gateways/gw-a/batches/000000000002.body":
                                          _flip(f["gateways/gw-a/batches/000000000002.body"])}),
                   "gateways/gw-a/batches/000000000002.body: SHA-256 differs from the manifest"),
    "manifest byte": (lambda f, k: f.update({"manifest.json": f["manifest.json"].replace(b'"ent-1"', b'"ent-9"', 1)}),
                      "manifest.sig: the receiver's signature over manifest.json does not verify"),
    "manifest signature": (lambda f, k: f.update({"manifest.sig": _flip(f["manifest.sig"], 3)}),
                           "manifest.sig: the receiver's signature over manifest.json does not verify"),
    "token byte": (lambda f, k: f.update({_token_name(f): _flip(f[_token_name(f)], -300)}),
                   "SHA-256 differs from the manifest"),
    "TSA certificate byte": (lambda f, k: f.update({n: _flip(f[n], -40) for n in f if n.startswith("tsa/cert-")}),
                             "SHA-256 differs from the manifest"),
    "removed file": (lambda f, k: f.pop("scores.json"),
                     "scores.json: listed in the manifest but missing from the archive (removed)"),
    "added file": (lambda f, k: f.update({"gateways/gw-a/batches/000000000099.body": b"{}"}),
                   "000000000099.body: in the archive but not in the manifest (added)"),
    # a dishonest receiver re-signs the manifest: the inner signatures and chains still catch it
    "batch byte, re-signed": (lambda f, k: (f.update({"gateways/gw-a/batches/000000000002.body":
                                                      _flip(f["gateways/gw-a/batches/000000000002.body"])}),
                                            _resign(f, k)),
                              "000000000002.body: the gateway's signature does not hold"),
    "batch removed, re-signed": (lambda f, k: (f.pop("gateways/gw-a/batches/000000000003.body"),
                                               f.pop("gateways/gw-a/batches/000000000003.sig"),
                                               _edit_json(f, "gateways/gw-a/batches.json",
                                                          lambda d: d["batches"].pop(2)), _resign(f, k)),
                                 "000000000004.body: seqs 3..3 missing and not declared dropped"),
    "access log edited, re-signed": (lambda f, k: (_edit_json(f, "access_log.json", lambda d: d["entries"][3].update(
        client="10.9.9.9:1")), _resign(f, k)), "access_log.json: entry"),
    "access log entry removed, re-signed": (lambda f, k: (_edit_json(f, "access_log.json", lambda d: d["entries"].pop(
        3)), _resign(f, k)), "prev is not the entry before it"),
    "finding edited, re-signed": (lambda f, k: (_edit_json(f, "findings.json", lambda d: d["findings"][0].update(
        severity="info")), _resign(f, k)), "hash does not cover its fields (edited)"),
    "score report edited, re-signed": (lambda f, k: (_edit_json(f, "scores.json", lambda d: d["scores"][0]["report"]
                                                                .update(grade="A")), _resign(f, k)),
                                       "scores.json: score"),
    "token byte, re-signed": (lambda f, k: (f.update({_token_name(f): _flip(f[_token_name(f)], -300)}),
                                            _resign(f, k)), "timestamps/000001.tst: "),
    "timestamp subject swapped, re-signed": (lambda f, k: (_edit_json(
        f, "timestamps/index.json", lambda d: d["tokens"][0].update(subject=d["tokens"][1]["subject"],
                                                                    imprint=d["tokens"][1]["imprint"])),
        _resign(f, k)), "imprint is not the SHA-256 of its subject"),
    "TSA certificate replaced, re-signed": (lambda f, k: (f.update({n: f["_other_ca"] for n in f
                                                                   if n.startswith("tsa/cert-")}), _resign(f, k)),
                                            "not the certificate of any token in the bundle"),
    "timestamp time edited in the index, re-signed": (lambda f, k: (_edit_json(
        f, "timestamps/index.json", lambda d: d["tokens"][0].update(gen_time="2020-01-01T00:00:00.000Z")),
        _resign(f, k)), "gen_time 2020-01-01T00:00:00.000Z is not the token's"),
    "TSA CA replaced, re-signed": (lambda f, k: (f.update({"tsa/ca.der": f["_other_ca"]}), _resign(f, k)),
                                   "is not issued by the TSA CA"),
}


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    d = tmp_path_factory.mktemp("other-ca")
    make_ca_and_tsa(d, "Mallory")
    from asn1crypto import pem
    return bytes(pem.unarmor((d / "ca.crt").read_bytes())[2])


@pytest.mark.parametrize("what", list(TAMPER))
def test_every_tampered_part_fails_with_a_clear_error(site: Any, what: str, tmp_path: Path, other_ca: bytes) -> None:
    files = _members(site["path"])
    files["_other_ca"] = other_ca
    edit, expected = TAMPER[what]
    edit(files, site["key"])
    files.pop("_other_ca")
    out = tmp_path / "tampered.tar"
    write_tar(out, files)
    res = evidence_verify.verify_bundle(out)
    assert not res.ok, what
    assert any(expected in f for f in res.failures), (what, res.failures)


def test_a_tsa_cert_from_another_ca_fails_when_the_ca_is_pinned(site: Any, tmp_path: Path, other_ca: bytes) -> None:
    res = evidence_verify.verify_bundle(site["path"], tsa_ca=other_ca)
    assert not res.ok and all("is not issued by the TSA CA CN=Mallory CA" in f for f in res.failures)


def test_not_an_archive_and_traversal(tmp_path: Path) -> None:
    (tmp_path / "x.tar").write_bytes(b"not a tar")
    assert "not a readable tar archive" in evidence_verify.verify_bundle(tmp_path / "x.tar").failures[0]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("../etc/passwd")
        ti.size = 1
        tar.addfile(ti, io.BytesIO(b"x"))
    (tmp_path / "y.tar").write_bytes(buf.getvalue())
    assert "not a plain relative name" in evidence_verify.verify_bundle(tmp_path / "y.tar").failures[0]


def test_the_archive_is_deterministic(site: Any, tmp_path: Path) -> None:
    from cloud_stub.evidence_bundle import collect

    assert collect(site["rdb"], "ent-1", None, None) == collect(site["rdb"], "ent-1", None, None)
    files = {"b.json": b"{}\n", "a/x.body": b"\x00\x01"}
    write_tar(tmp_path / "1.tar", files)
    write_tar(tmp_path / "2.tar", dict(reversed(list(files.items()))))
    assert (tmp_path / "1.tar").read_bytes() == (tmp_path / "2.tar").read_bytes()


def test_the_verifiers_copies_of_the_chain_rules_match_the_receivers() -> None:
    assert feed_chain.FIELDS["finding"] == evidence_verify.FINDING_FIELDS
    assert evidence_verify.ACCESS_FIELDS == access_log.FIELDS
    entry = {k: f"v-{k}" for k in access_log.FIELDS} | {"returned": {"ids": [1, 2]}, "status": 200}
    assert evidence_verify.access_hash(entry, "ab" * 32) == access_log.entry_hash(entry, "ab" * 32)
    item = {k: f"v-{k}" for k in feed_chain.FIELDS["finding"]} | {"detail": {"x": 1}}
    assert evidence_verify.finding_hash(item, "cd" * 32) == feed_chain.entry_hash(
        "finding", item, feed_chain.detail_sha256({"x": 1}), "cd" * 32)


def test_unknown_enterprise_and_unreachable_tsa_are_clear_errors(tmp_path: Path) -> None:
    rdb = ReceiverDB(tmp_path / "r.db")
    key = SigningKey.generate()
    try:
        with pytest.raises(ValueError, match="unknown enterprise 'nope'"):
            export_bundle(rdb, "nope", tmp_path / "x.tar", key=key)
        issue_token(rdb, "ent-1")
        with pytest.raises(timestamps.TimestampError, match="unreachable"):
            # something to stamp, and nothing listens on port 9 of loopback
            access_log.record(rdb, "operator", "me", "ent-1", "x", {})
            timestamps.stamp(rdb, "http://127.0.0.1:9/")
        with pytest.raises(ValueError, match="from: 'yesterday'"):
            export_bundle(rdb, "ent-1", tmp_path / "x.tar", key=key, t_from="yesterday")
    finally:
        rdb.close()
    assert not (tmp_path / "x.tar").exists()


def test_cloud_cli_export_and_timestamp(site: Any, tsa: LoopbackTSA, tmp_path: Path) -> None:
    from cloud_stub.cli import cloud

    db = str(site["dir"] / "receiver.db")
    runner = CliRunner()
    out = runner.invoke(cloud, ["timestamp", "--db", db, "--tsa-url", tsa.url, "--json"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cloud, ["evidence", "export", "--db", db, "--key", str(site["dir"] / "receiver.key"),
                                "--enterprise", "ent-1", "--from", "2020-01-01", "--to", "2100-01-01T00:00:00Z",
                                "--out", str(tmp_path / "b.tar"), "--json"])
    assert out.exit_code == 0, out.output
    info = json.loads(out.stdout)
    assert info["from"] == "2020-01-01T00:00:00.000Z" and info["counts"]["batches"] == 9
    # no TSA CA in this bundle: the tokens cannot be anchored unless one is pinned
    res = evidence_verify.verify_bundle(tmp_path / "b.tar")
    assert not res.ok and "cannot be anchored" in res.failures[0]
    assert evidence_verify.verify_bundle(tmp_path / "b.tar", tsa_ca=tsa.ca_pem).ok
    out = runner.invoke(cloud, ["evidence", "export", "--db", db, "--key", str(site["dir"] / "receiver.key"),
                                "--enterprise", "ent-1", "--from", "1999-01-01", "--to", "2000-01-01",
                                "--out", str(tmp_path / "empty.tar")])
    assert out.exit_code == 0, out.output
    res = evidence_verify.verify_bundle(tmp_path / "empty.tar", tsa_ca=tsa.ca_pem)
    assert res.summary["batches"] == 0


def test_the_documented_script_verifies_a_bundle_without_edgeproof(site: Any, tmp_path: Path) -> None:
    """docs/evidence.md's PyNaCl script, as printed, run in a fresh interpreter in the unpacked bundle."""
    import re
    import sys

    doc = (Path(__file__).resolve().parents[2] / "docs" / "evidence.md").read_text(encoding="utf-8")
    (script,) = re.findall(r"```python\n(.*?)\n```", doc, re.S)
    pk = receiver_key.public_info(site["key"])["public_key"]
    script = script.replace("…base64 public key learnt from the bank…", pk)
    with tarfile.open(site["path"]) as tar:
        tar.extractall(tmp_path / "b", filter="data")
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path / "b", capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr
    body = tmp_path / "b" / "gateways" / "gw-a" / "batches" / "000000000002.body"
    body.write_bytes(_flip(body.read_bytes()))
    bad = subprocess.run([sys.executable, "-c", script], cwd=tmp_path / "b", capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0 and "000000000002.body" in bad.stderr


def test_serve_with_a_tsa_timestamps_at_start(tsa: LoopbackTSA, tmp_path: Path) -> None:
    """`cloud serve --tsa-url`: the daily stamper runs once at start (then every 24 h)."""
    import sys
    import time

    from cloud_stub.ingest import ingest

    db = tmp_path / "r.db"
    rdb = ReceiverDB(db)
    gw = FakeGateway()
    from cloud_stub.enrollment import enroll

    token = issue_token(rdb, "ent-1")["token"]
    req = gw.enroll_request(token)
    enroll(rdb, req["token"], req["gateway_id"], req["public_key"], req["proof"])
    assert ingest(rdb, gw.next().envelope(), "test").status == "accepted"
    rdb.close()
    proc = subprocess.Popen([sys.executable, "-m", "cloud_stub", "serve", "--db", str(db), "--port", "0",
                             "--tsa-url", tsa.url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        found: list[Any] = []
        while time.monotonic() < deadline and not found:
            check = ReceiverDB(db)
            with check.read() as conn:
                found = conn.execute("SELECT kind, gateway_id FROM timestamps").fetchall()
            check.close()
            time.sleep(0.1)
        assert [tuple(r) for r in found] == [("chain_tip", "gw-1")]
    finally:
        proc.terminate()
        proc.wait(10)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)), min_size=1,
                      max_size=4))
def test_any_corrupted_bundle_gets_an_answer_never_an_exception(site: Any, tmp_path: Path, flips: Any) -> None:
    """Random byte corruption anywhere in the archive: verify answers (never raises), and passes only when
    every member it read is byte for byte the original (a flip in tar padding changes nothing)."""
    data = bytearray(site["path"].read_bytes())
    for at, x in flips:
        data[at % len(data)] ^= x
    p = tmp_path / "corrupt.tar"
    p.write_bytes(bytes(data))
    res = evidence_verify.verify_bundle(p)
    if res.ok:
        assert _members(p) == _members(site["path"])
    else:
        assert res.failures and all(isinstance(f, str) and f for f in res.failures)


@given(value=st.one_of(st.text(max_size=40), st.integers(min_value=-10**12, max_value=10**12), st.none()))
def test_period_bounds_parse_or_name_the_option(value: Any) -> None:
    try:
        out = normalise_time(value, "from")
    except ValueError as exc:
        assert str(exc).startswith("from: ")
    else:
        assert out is None or (len(out) == 24 and out.endswith("Z"))


def test_key_history_rotation_and_revocation(receiver: Any, tmp_path: Path) -> None:
    """A gateway whose first key was revoked and which re-enrolled: both keys and the revocation are in the bundle,
    batches verify under the key of their time, and a batch placed after its key's revocation fails."""
    from cloud_stub.enrollment import revoke_key

    gw = FakeGateway()
    receiver.enroll(gw)
    for _ in range(2):
        assert receiver.post(gw.next().envelope())[0] == 200
    revoke_key(receiver.rdb, gw.kid)
    old_kid = gw.kid
    gw.key = SigningKey.generate()
    receiver.enroll(gw)
    assert receiver.post(gw.next().envelope())[0] == 200
    export_bundle(receiver.rdb, "ent-1", tmp_path / "b.tar", key=receiver.key)
    res = evidence_verify.verify_bundle(tmp_path / "b.tar")
    assert res.ok, res.failures
    assert res.summary["gateways"]["gw-1"] == {"batches": 3, "first_seq": 1, "last_seq": 3, "keys": 2}
    files = _members(tmp_path / "b.tar")
    keys = json.loads(files["gateways/gw-1/keys.json"])["keys"]
    revoked = next(k["revoked_at"] for k in keys if k["kid"] == old_kid)
    assert revoked and all(k["revoked_at"] is None for k in keys if k["kid"] != old_kid)
    later = "2100-01-01T00:00:00.000Z"
    _edit_json(files, "gateways/gw-1/batches.json", lambda d: d["batches"][1].update(received=later))
    _resign(files, receiver.key)
    write_tar(tmp_path / "t.tar", files)
    res = evidence_verify.verify_bundle(tmp_path / "t.tar")
    assert any(f"000000000002.body: received 2100-01-01T00:00:00.000Z, after its key {old_kid} was revoked" in f
               for f in res.failures), res.failures
