"""`edgeproof decommission` with a real gateway state (key, enrollment, store with signed batches,
privacy key, drop folder) against a real receiver on loopback: the final record is acknowledged,
everything is wiped, and the certificate is signed by the key the receiver knows for the gateway."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cloud_helpers import T0, FakeGateway, free_port, http, pin_of, uplink
from nacl.signing import SigningKey

from cloud_stub.banks import add_bank
from cloud_stub.enrollment import issue_token
from cloud_stub.feed_verify import verify_feed
from gateway import wire
from gateway.commands.certificate import command as cert_cmd
from gateway.commands.decommission import command
from gateway.identity import enroll, init_identity, load_identity
from gateway.store import Store
from gateway.uplink.batcher import Batcher

PROFILE = """
[site]
id = "t"
timezone = "Asia/Shanghai"
simulated = true

[uplink]
transport = "http"
{url}

[status]
enabled = false

[consent]
enterprise = "ent-d"

[[consent.grants]]
to = "bank-d"
categories = ["energy"]

[[connectors]]
name = "orders"
kind = "folder"
dataset = "orders"
path = "drop"
columns = {{ order_no = "no", customer = "c", qty = "q", unit_price = "p", order_date = "d" }}
"""


def _site(receiver: Any, tmp_path: Path, url: str | None = None) -> tuple[Path, Path]:
    state = tmp_path / "gw"
    init_identity(state, "gw-d", "t")
    enroll(state, receiver.url, issue_token(receiver.rdb, "ent-d")["token"])
    (state / "privacy.key").write_bytes(b"k" * 32)
    (state / "privacy.key").chmod(0o600)
    (state / "drop").mkdir()
    (state / "drop" / "orders-2026-10.csv").write_text("no,c,q,p,d\nS1,c_1,3,5.0,2026-10-05\n")
    prof = tmp_path / "p.toml"
    prof.write_text(PROFILE.format(url=f'url = "{url}"' if url else ""), encoding="utf-8")
    store = Store(state / "edgeproof.db", "NORMAL")
    store.add_indicators([{"name": "energy.kwh", "category": "energy", "subject": "m1", "window_start": T0 + 900 * i,
                           "window_len": 900, "value": 1.0 + i, "unit": "kWh", "quality": [], "version": 1,
                           "detail": {}} for i in range(3)])
    Batcher(store, load_identity(state)).pack_all()
    uplink(store, load_identity(state), receiver.url)
    store.close()
    return state, prof


def _tree(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*"))
            if p.is_file()}


def _run(*args: str) -> Any:
    return CliRunner().invoke(command, list(args), catch_exceptions=False)


def test_dry_run_lists_everything_and_touches_nothing(receiver, tmp_path: Path) -> None:
    state, prof = _site(receiver, tmp_path)
    unit = tmp_path / "root/etc/systemd/system/edgeproof.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/opt/edgeproof/bin/edgeproof run --state /var/lib/other\n")
    before = _tree(state)
    res = _run("--state", str(state), "--profile", str(prof), "--dry-run", "--json",
               "--certificate-dir", str(tmp_path / "certs"), "--root", str(tmp_path / "root"))
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    kinds = {i["kind"] for i in out["would_destroy"]}
    assert {"gateway_key", "store", "privacy_key", "connector_copies", "enrollment"} <= kinds
    key = next(i for i in out["would_destroy"] if i["kind"] == "gateway_key")
    assert key["bytes"] == 32 and key["sha256"] == hashlib.sha256((state / "gateway.key").read_bytes()).hexdigest()
    assert out["unacknowledged_now"]["unacknowledged_seqs"] == []
    assert [k["kind"] for k in out["kept"]] == ["service_unit"]  # another state directory's service
    assert _tree(state) == before and not (tmp_path / "certs").exists()


def test_decommission_sends_a_final_record_wipes_and_signs_a_certificate(receiver, tmp_path: Path) -> None:
    state, prof = _site(receiver, tmp_path)
    pk = load_identity(state).public_key
    root = tmp_path / "root"
    unit = root / "etc/systemd/system/edgeproof.service"
    unit.parent.mkdir(parents=True)
    unit.write_text(f"[Service]\nExecStart=/opt/edgeproof/bin/edgeproof run --state {state}\n")
    other = root / "etc/systemd/system/other.service"  # not ours: never touched
    other.write_text("[Service]\nExecStart=/bin/true\n")
    sizes = {p.name: p.stat().st_size for p in state.iterdir() if p.is_file()}
    stolen = (state / "gateway.key").read_bytes()  # a copy made before: it must be worthless afterwards
    res = _run("--state", str(state), "--profile", str(prof), "--reason", "loan repaid, site closed",
               "--certificate-dir", str(tmp_path / "certs"), "--root", str(root), "--wait", "10")
    assert res.exit_code == 0, res.output
    assert "final record seq" in res.stdout and "acknowledged" in res.stdout
    assert [p for p in state.rglob("*") if p.is_file()] == [] and not unit.exists() and other.exists()

    # the receiver holds the final record as the last batch of the chain, shown to the bank
    with receiver.rdb.read() as conn:
        seq, rec = conn.execute("SELECT seq, record FROM records WHERE gateway_id = 'gw-d' ORDER BY id DESC"
                                " LIMIT 1").fetchone()
        last = conn.execute("SELECT max(seq) FROM batches WHERE gateway_id = 'gw-d'").fetchone()[0]
    final = json.loads(rec)
    assert final["type"] == "decommission" and final["reason"] == "loan repaid, site closed" and seq == last
    assert final["last_seq"] == seq - 1  # the consent record packed first, then the final one
    bank = add_bank(receiver.rdb, "bank-d", "ent-d", "energy")["token"]
    out = verify_feed(receiver.url, "ent-d", bank, pin_of(receiver))
    assert out["failures"] == [] and out["records"] >= 4

    # the receiver revoked the key on the final record: a batch signed with a copy of it is refused
    with receiver.rdb.read() as conn:
        last_hash = conn.execute("SELECT last_hash FROM gateways WHERE id = 'gw-d'").fetchone()[0]
        assert conn.execute("SELECT revoked_at FROM gateway_keys WHERE gateway_id = 'gw-d'").fetchone()[0]
    copy = FakeGateway("gw-d", "ent-d", SigningKey(stolen), seq=seq, prev=last_hash)
    status, res = receiver.post(copy.next().envelope())
    assert status == 403 and "revoked_key" in json.dumps(res)
    with receiver.rdb.read() as conn:
        assert conn.execute("SELECT count(*) FROM findings WHERE gateway_id = 'gw-d' AND kind = 'rejected_batch'"
                            ).fetchone()[0] == 1

    # the certificate: signed by the gateway key the receiver has on record, listing what went
    (cert_path,) = list((tmp_path / "certs").glob("destruction-gw-d-*.json"))
    signed = json.loads(cert_path.read_text())
    status, keys = http("GET", f"{receiver.url}/v1/gateways/gw-d/keys")
    assert status == 200
    known = wire.unb64(keys["keys"][0]["public_key"], "pk")
    assert known == pk
    cert = wire.verify_certificate(signed, known)
    assert cert["gateway_id"] == "gw-d" and cert["final_record"]["acknowledged"] is True and cert["lost"] is None
    by_kind = {i["kind"]: i for i in cert["destroyed"]}
    assert by_kind["gateway_key"]["bytes"] == 32 and by_kind["privacy_key"]["bytes"] == sizes["privacy.key"]
    assert by_kind["connector_copies"]["files"] == 1 and by_kind["service_unit"]["bytes"] > 0
    tampered = dict(signed, body=wire.b64(json.dumps({**cert, "destroyed": []}).encode()))
    with pytest.raises(wire.WireError):
        wire.verify_certificate(tampered, known)

    # the offline check a lender or auditor runs: against the key the receiver has on record
    res = CliRunner().invoke(cert_cmd, ["verify", str(cert_path), "--receiver", receiver.url])
    assert res.exit_code == 0 and "valid: signed by gateway key" in res.stdout and "gateway_key" in res.stdout
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(tampered))
    res = CliRunner().invoke(cert_cmd, ["verify", str(bad), "--receiver", receiver.url])
    assert res.exit_code == 1 and "not a valid destruction certificate" in res.stderr


def test_unacknowledged_batches_refuse_unless_forced_and_force_names_the_loss(receiver, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    state, prof = _site(receiver, tmp_path, url=dead)  # delivered to the receiver, but the uplink now points nowhere
    before = _tree(state)
    args = ["--state", str(state), "--profile", str(prof), "--certificate-dir", str(tmp_path / "certs"),
            "--root", str(tmp_path / "root"), "--wait", "0.5"]
    res = CliRunner().invoke(command, args)
    assert res.exit_code == 1 and "refused" in res.stderr and "Nothing was deleted" in res.stderr
    assert (state / "gateway.key").exists() and (state / "edgeproof.db").exists()
    assert set(before) <= set(_tree(state))  # the final batch was signed into the store, nothing removed
    res = CliRunner().invoke(command, [*args, "--force", "--json"])
    assert res.exit_code == 0, res.output
    cert = json.loads(res.stdout)
    lost = cert["lost"]
    assert cert["forced"] is True and lost["unacknowledged_seqs"]  # everything: this destination acked nothing
    assert lost["unacknowledged_records"].get("decommission") == 1 and lost["unacknowledged_records"]["energy"] == 3
    assert "--force: destroying although not acknowledged" in res.stderr
    assert not (state / "gateway.key").exists()


def test_the_inventory_finds_a_cameras_evidence_ring_and_key(tmp_path: Path) -> None:
    import msgspec

    from gateway import decommission as dc
    from gateway.profile import load_profile

    prof = load_profile("jetson-orin-nano-usbcam")
    cam = next(d for d in prof.devices if "source" in (d.options or {}))
    ev = {"directory": "evidence", "key_file": "evidence.key"}
    prof = msgspec.structs.replace(prof, devices=[msgspec.structs.replace(d, options={**d.options, "evidence": ev})
                                                  if d is cam else d for d in prof.devices])
    state = tmp_path / "state"
    (state / "evidence").mkdir(parents=True)
    for i in range(3):
        (state / "evidence" / f"clip-{i}.bin").write_bytes(bytes([i]) * 100)
    (state / "evidence.key").write_bytes(b"e" * 32)
    (state / "status.json").write_text("{}")
    kinds = {i.kind: i for i in dc.inventory(prof, state, tmp_path / "root").items}
    assert kinds["evidence_ring"].files == 3 and kinds["evidence_ring"].bytes == 300
    assert kinds["evidence_key"].bytes == 32 and kinds["other_state"].path.name == "status.json"
    assert "connector_copies" not in kinds and "gateway_key" not in kinds  # nothing there, nothing listed
