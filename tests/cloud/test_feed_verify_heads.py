"""Head statements: a receiver that drops the tail of a chain or strips batch heads is caught.

The gateway side is the real Store + Batcher + Sender + HeadSigner over HTTP (the ``site``
fixture and ``uplink`` in conftest); the receiver is real on loopback; the receiver's lies are
made in its database, as a dishonest operator would; the bank is the real ``feed verify``.
``test_feed_verify_heads_postgres.py`` runs every test here again on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cloud_helpers import CATS, T0, FakeGateway, http, pin_of
from nacl.signing import SigningKey
from test_feed_verify_categories import REPO
from test_feed_verify_incremental import deliver

from cloud_stub import heads as receiver_heads
from cloud_stub.banks import add_bank
from cloud_stub.enrollment import issue_token, revoke_key
from cloud_stub.feed_verify import verify_feed
from gateway import wire
from gateway.identity import enroll, init_identity, load_identity
from gateway.store import Store
from gateway.uplink.batcher import Batcher
from gateway.uplink.heads import HeadSigner, heads_from
from gateway.uplink.http import HttpTransport
from gateway.uplink.sender import Sender


def _one(conn: Any, sql: str, *args: Any) -> Any:
    return conn.execute(sql, args).fetchone()


def bigger_site(site: dict[str, Any]) -> dict[str, Any]:
    """The site with 24 more windows delivered: 24 batches in all, the last head statement at the tip."""
    deliver(site, range(6, 30))
    return site


def truncate(receiver: Any, gateway: str, n: int) -> tuple[int, int]:
    """Delete the newest ``n`` batches of ``gateway`` and roll its chain head back (a dishonest
    operator hiding its tail); returns (the tip before, the tip now)."""
    with receiver.rdb.write() as conn:
        tip = _one(conn, "SELECT last_seq FROM gateways WHERE id = ?", gateway)[0]
        keep = tip - n
        gone = conn.execute("SELECT hash FROM batches WHERE gateway_id = ? AND seq > ?", (gateway, keep)).fetchall()
        for (h,) in gone:
            conn.execute("DELETE FROM records WHERE batch_hash = ?", (h,))
            conn.execute("DELETE FROM batches WHERE hash = ?", (h,))
        new_hash = _one(conn, "SELECT hash FROM batches WHERE gateway_id = ? AND seq = ?", gateway, keep)[0]
        conn.execute("UPDATE gateways SET last_seq = ?, last_hash = ? WHERE id = ?", (keep, new_hash, gateway))
    return tip, keep


def run(site: dict[str, Any], bank: str = "all", **kw: Any) -> dict[str, Any]:
    return verify_feed(site["receiver"].url, "ent-1", site["tokens"][bank], site["pin"], page_limit=50, **kw)


def test_a_clean_site_verifies_with_its_signed_head(site):
    s = run(site)
    assert s["failures"] == [] and s["notices"] == []
    tip = max(site["seqs"])
    assert s["heads"]["gw-real"] == {"chain_seq": tip, "served_seq": tip, "signed_seq": tip,
                                     "signed_time": s["heads"]["gw-real"]["signed_time"], "heads_from": 1,
                                     "head_age_s": s["heads"]["gw-real"]["head_age_s"]}
    assert 0 <= s["heads"]["gw-real"]["head_age_s"] < 60
    energy = run(site, "energy")  # a narrow grant sees the heads too: they hold no measurement
    assert energy["failures"] == [] and energy["heads"]["gw-real"]["signed_seq"] == tip


@pytest.mark.parametrize("n", [1, 10])
@pytest.mark.parametrize("bank", ["all", "energy"])
def test_deleting_the_newest_batches_fails_naming_the_missing_seqs(site, n, bank):
    bigger_site(site)
    assert run(site, bank)["failures"] == []
    tip, keep = truncate(site["receiver"], "gw-real", n)
    s = run(site, bank)
    assert s["failed"] >= 1
    want = f"gateway gw-real: the receiver serves up to seq {keep} but the gateway signed head seq {tip} at "
    assert any(f.startswith(want) and f.endswith(f": seqs {keep + 1}..{tip} missing") for f in s["failures"]), \
        s["failures"]


def test_the_daily_state_run_sees_the_head_go_back(site, tmp_path: Path):
    bigger_site(site)
    first = run(site, since={})
    assert first["failures"] == [] and first["state"]["heads"]["gw-real"]["heads_from"] == 1
    kept = first["state"]["heads"]["gw-real"]["statement"]
    assert json.loads(wire.unb64(kept["body"], "b"))["seq"] == max(site["seqs"])
    tip, keep = truncate(site["receiver"], "gw-real", 1)
    s = run(site, since=first["state"])
    assert s["records"] == 0  # nothing new: without heads this run passed ("0 records new", exit 0)
    assert f"gateway gw-real: the receiver's head went back from seq {tip} to {keep} (an earlier run verified up " \
           f"to seq {tip})" in s["failures"], s["failures"]
    # The receiver also hides the statements it holds: the one the state kept still proves the tail.
    with site["receiver"].rdb.write() as conn:
        conn.execute("DELETE FROM head_statements")
    fresh = run(site)
    assert any("serves no head statement" in f for f in fresh["failures"]), fresh["failures"]
    state_run = run(site, since=first["state"])
    assert any("went back from seq" in f for f in state_run["failures"]), state_run["failures"]


def test_the_daily_state_run_through_the_cli_fails_and_keeps_its_state(site, tmp_path: Path):
    bigger_site(site)
    state = tmp_path / "bank-state.json"
    cmd = [sys.executable, "-m", "cloud_stub", "feed", "verify", "--url", site["receiver"].url,
           "--enterprise", "ent-1", "--token", site["tokens"]["all"], "--state", str(state)]
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    before = state.read_text()
    assert json.loads(before)["enterprises"]["ent-1"]["heads"]["gw-real"]["heads_from"] == 1
    tip, keep = truncate(site["receiver"], "gw-real", 10)
    bad = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert bad.returncode == 1, bad.stdout
    assert f"FAIL gateway gw-real: the receiver's head went back from seq {tip} to {keep}" in bad.stdout
    assert state.read_text() == before  # a failed run does not move the state


def test_a_stripped_head_and_relabelled_energy_batch_fails_the_energy_bank(site):
    """The issue's case: head_sig set to NULL and the records' category relabelled hides an energy batch."""
    receiver = site["receiver"]
    assert run(site, "energy")["failures"] == []
    with receiver.rdb.write() as conn:
        h, seq = _one(conn, "SELECT batch_hash, seq FROM records WHERE gateway_id = 'gw-real' AND category = 'energy'"
                            " ORDER BY id LIMIT 1")
        conn.execute("UPDATE batches SET head_sig = NULL WHERE hash = ?", (h,))
        conn.execute("UPDATE records SET category = 'machine' WHERE batch_hash = ?", (h,))
        hidden = _one(conn, "SELECT count(*) FROM records WHERE batch_hash = ?", h)[0]
    s = run(site, "energy")
    assert s["withheld"] == 5 and s["records"] == 6 - hidden  # one energy batch fewer shown: the lie works on the feed
    assert f"withheld batch {h[:16]} (gateway gw-real seq {seq}): no head signature, although the gateway signs " \
           "every head from seq 1 (heads_from): the head was stripped" in s["failures"], s["failures"]


def test_a_stripped_head_is_caught_through_the_head_statement_alone(site):
    """A bank granted only env sees no body declaring heads_from when the receiver strips every
    head it withholds: the gateway's head statements say it."""
    receiver = site["receiver"]
    env_bank = add_bank(receiver.rdb, "bank-env", "ent-1", "env")["token"]
    with receiver.rdb.write() as conn:
        conn.execute("UPDATE batches SET head_sig = NULL WHERE gateway_id = 'gw-real'")
        conn.execute("UPDATE records SET category = 'machine' WHERE category = 'env'")  # hide env too
    s = verify_feed(receiver.url, "ent-1", env_bank, site["pin"])
    assert s["records"] == 0 and s["heads"]["gw-real"]["heads_from"] == 1
    assert sum("the head was stripped" in f for f in s["failures"]) == len(site["seqs"]), s["failures"]


def test_a_gateway_that_declares_heads_from_but_has_no_statement_served_fails(site):
    with site["receiver"].rdb.write() as conn:
        conn.execute("DELETE FROM head_statements")
    s = run(site)
    assert "gateway gw-real: its batches declare heads_from 1 but the receiver serves no head statement of it" \
        in s["failures"], s["failures"]


def test_an_equivocating_head_statement_served_fails(site):
    """The gateway (or a forger with its key) signs a head naming another hash for a seq the bank is served."""
    receiver = site["receiver"]
    ident = load_identity(site["store"].path.parent)
    tip = max(site["seqs"])
    stmt = wire.head_statement("gw-real", "ent-1", ident.kid, tip, "e" * 64, time.time() + 1, 1)
    signed = wire.sign_head_statement(stmt, ident.signing_key)
    status, out = http("POST", f"{receiver.url}/v1/heads", signed.envelope())
    assert (status, out["code"], out["accepted_hash"]) == (409, "equivocation", out["accepted_hash"])
    with receiver.rdb.read() as conn:
        assert _one(conn, "SELECT count(*) FROM findings WHERE kind = 'equivocation'")[0] == 1
    # a receiver that stores it anyway (or one whose batch at that seq was swapped) is caught by the bank
    with receiver.rdb.write() as conn:
        conn.execute("INSERT INTO head_statements (gateway_id, enterprise_id, seq, hash, time, kid, body, sig,"
                     " stmt_hash, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     ("gw-real", "ent-1", tip, "e" * 64, stmt["time"], ident.kid, signed.body, signed.sig,
                      signed.hash, "2026-01-01T00:00:00.000Z"))
    s = run(site)
    assert any(f"gateway gw-real: the gateway signed head seq {tip} with hash eeeeeeeeeeeeeeee but the receiver "
               "serves batch" in f and f.endswith("(equivocation)") for f in s["failures"]), s["failures"]


def test_a_forged_head_statement_in_the_database_fails(site):
    receiver = site["receiver"]
    with receiver.rdb.write() as conn:
        body = bytes(_one(conn, "SELECT body FROM head_statements ORDER BY id DESC LIMIT 1")[0])
        stmt = json.loads(body)
        stmt["seq"] -= 1  # the receiver claims the gateway's head is one lower
        conn.execute("UPDATE head_statements SET body = ?", (wire.canonical_json(stmt),))
    s = run(site)
    assert any(f.startswith("gateway gw-real: a head statement served does not verify: bad_signature")
               for f in s["failures"]), s["failures"]


def _counts(receiver: Any) -> tuple[int, int]:
    with receiver.rdb.read() as conn:
        return (_one(conn, "SELECT count(*) FROM head_statements")[0], _one(conn, "SELECT count(*) FROM findings")[0])


def test_bad_head_statements_are_refused_with_json_and_nothing_persists(site):
    receiver = site["receiver"]
    url = f"{receiver.url}/v1/heads"
    ident = load_identity(site["store"].path.parent)
    tip = max(site["seqs"])
    with receiver.rdb.read() as conn:
        tip_hash = _one(conn, "SELECT last_hash FROM gateways WHERE id = 'gw-real'")[0]
        below_hash = _one(conn, "SELECT hash FROM batches WHERE gateway_id = 'gw-real' AND seq = ?", tip - 1)[0]
        latest_body = bytes(_one(conn, "SELECT body FROM head_statements ORDER BY id DESC LIMIT 1")[0])
    latest_time = json.loads(latest_body)["time"]
    before = _counts(receiver)

    def stmt(**over: Any) -> dict[str, Any]:
        s = wire.head_statement("gw-real", "ent-1", ident.kid, tip, tip_hash, time.time() + 2, 1)
        s.update(over)
        return s

    stranger = SigningKey.generate()
    good = wire.sign_head_statement(stmt(), ident.signing_key)
    forged_body = wire.canonical_json(stmt(seq=tip + 5))
    old = wire.parse_time(latest_time) - 60
    other_kid = wire.key_id(bytes(stranger.verify_key))
    loose = json.dumps(stmt(), indent=1).encode()  # signed, well formed, but not canonical JSON
    cases = {
        "not json": (b"{nope", 400, "bad_envelope"),
        "batch format": (FakeGateway().next().envelope(), 400, "bad_envelope"),
        "unknown key": (wire.sign_head_statement(stmt(kid=other_kid), stranger).envelope(), 403, "unknown_key"),
        "forged": (wire.SignedHeadStatement(forged_body, good.sig, good.kid).envelope(), 400, "bad_signature"),
        "batch signature reused": (wire.SignedHeadStatement(
            good.body, ident.signing_key.sign(wire.SIGN_PREFIX + good.body).signature, good.kid).envelope(),
            400, "bad_signature"),
        "another enterprise": (wire.sign_head_statement(stmt(enterprise="ent-2"), ident.signing_key).envelope(),
                               400, "gateway_mismatch"),
        "replayed older": (wire.sign_head_statement(stmt(time=wire.format_time(old)), ident.signing_key)
                           .envelope(), 409, "stale_head"),
        "replayed lower seq": (wire.sign_head_statement(stmt(seq=tip - 1, hash=below_hash), ident.signing_key)
                               .envelope(), 409, "stale_head"),
        "far future": (wire.sign_head_statement(stmt(time=wire.format_time(time.time() + 7200)), ident.signing_key)
                       .envelope(), 400, "bad_time"),
        "not canonical": (wire.SignedHeadStatement(
            loose, ident.signing_key.sign(wire.HEADSTMT_PREFIX + loose).signature, ident.kid).envelope(),
            400, "bad_statement"),
        "too large": (b"x" * (3 * wire.MAX_HEADSTMT_BYTES), 400, "too_large"),
    }
    for name, (data, code, why) in cases.items():
        status, out = http("POST", url, data)
        assert (status, out.get("status"), out.get("code")) == (code, "rejected", why), (name, out)
        assert isinstance(out["message"], str) and out["message"], name
        assert _counts(receiver) == before, name
    # the same statement re-sent is a duplicate (a lost answer), stored once
    assert http("POST", url, good.envelope())[1]["status"] == "accepted"
    assert http("POST", url, good.envelope())[1]["status"] == "duplicate"
    assert _counts(receiver) == (before[0] + 1, before[1])
    # an exact replay of a statement still held changes nothing either
    with receiver.rdb.read() as conn:
        row = _one(conn, "SELECT body, sig, kid FROM head_statements ORDER BY id LIMIT 1")
    replay = wire.SignedHeadStatement(bytes(row[0]), bytes(row[1]), row[2]).envelope()
    assert http("POST", url, replay)[1]["status"] == "duplicate"  # still held: a duplicate, nothing new


def test_a_revoked_key_cannot_state_a_head(site):
    ident = load_identity(site["store"].path.parent)
    revoke_key(site["receiver"].rdb, ident.kid)
    before = _counts(site["receiver"])
    signed = wire.sign_head_statement(wire.head_statement("gw-real", "ent-1", ident.kid, max(site["seqs"]),
                                                          "a" * 64, time.time() + 1, 1), ident.signing_key)
    status, out = http("POST", f"{site['receiver'].url}/v1/heads", signed.envelope())
    assert (status, out["code"]) == (403, "revoked_key") and _counts(site["receiver"]) == before


def test_history_is_bounded_per_gateway(site):
    receiver = site["receiver"]
    ident = load_identity(site["store"].path.parent)
    with receiver.rdb.read() as conn:
        tip_hash = _one(conn, "SELECT last_hash FROM gateways WHERE id = 'gw-real'")[0]
    t0 = time.time()
    for i in range(receiver_heads.HISTORY + 5):
        signed = wire.sign_head_statement(wire.head_statement("gw-real", "ent-1", ident.kid, max(site["seqs"]),
                                                              tip_hash, t0 + 1 + i * 0.01, 1), ident.signing_key)
        assert http("POST", f"{receiver.url}/v1/heads", signed.envelope())[1]["status"] == "accepted"
    with receiver.rdb.read() as conn:
        assert _one(conn, "SELECT count(*) FROM head_statements WHERE gateway_id = 'gw-real'")[0] \
            == receiver_heads.HISTORY
    page = http("GET", f"{receiver.url}/v1/feed/ent-1/heads", token=site["tokens"]["energy"])[1]
    stmts = page["gateways"][0]["statements"]
    assert len(stmts) == receiver_heads.HISTORY
    assert json.loads(wire.unb64(stmts[0]["body"], "b"))["time"] == wire.format_time(t0 + 1 + 24 * 0.01)
    assert run(site)["failures"] == []


def test_an_old_chain_without_heads_from_still_verifies_with_a_notice(receiver):
    old = FakeGateway("gw-old", "ent-1")
    receiver.enroll(old)
    for c in ("energy", "machine", "energy"):
        rec = {"type": "indicator", "name": CATS[c], "category": c, "subject": "s",
               "window": {"start": T0, "len": 900}, "value": 1.0, "unit": "u", "q": [], "def": 1}
        b = old.next(records=[rec])
        assert receiver.post(wire.SignedBatch(b.body, b.sig, b.kid).envelope())[1]["status"] == "accepted"
    for grant in ("*", "energy"):
        token = add_bank(receiver.rdb, f"b-{grant.strip('*') or 'all'}", "ent-1", grant)["token"]
        s = verify_feed(receiver.url, "ent-1", token, pin_of(receiver))
        assert s["failures"] == [] and s["failed"] == 0
        assert s["notices"] == ["gateway gw-old: signs no head statements (a gateway from before them): whether the "
                                "receiver serves its whole chain cannot be checked"]
        assert s["heads"]["gw-old"]["heads_from"] is None and s["heads"]["gw-old"]["signed_seq"] is None


def test_a_stale_head_is_a_notice_and_fails_with_max_head_age(receiver, tmp_path: Path):
    state = tmp_path / "gw"
    init_identity(state, "gw-quiet", "t")
    enroll(state, receiver.url, issue_token(receiver.rdb, "ent-q")["token"])
    store = Store(state / "edgeproof.db", "NORMAL")
    try:
        store.add_indicators([{"name": "energy.kwh", "category": "energy", "subject": "m", "window_start": T0,
                               "window_len": 900, "value": 1.0, "unit": "kWh", "quality": [], "version": 1,
                               "detail": {}}])
        Batcher(store, load_identity(state)).pack_all()
        ident = load_identity(state)
        sender = Sender(store, HttpTransport(receiver.url),
                        heads=HeadSigner(store, ident, clock=lambda: time.time() - 7200))
        asyncio.run(sender.send_pending())
        assert sender.status.heads_sent == 1
    finally:
        store.close()
    token = add_bank(receiver.rdb, "b-q", "ent-q")["token"]
    s = verify_feed(receiver.url, "ent-q", token, pin_of(receiver))
    assert s["failures"] == [] and len(s["notices"]) == 1
    assert s["notices"][0].startswith("gateway gw-quiet: the latest head statement is from ")
    assert "the gateway may be offline, or the receiver withholds newer ones" in s["notices"][0]
    strict = verify_feed(receiver.url, "ent-q", token, pin_of(receiver), max_head_age=3600)
    assert strict["failed"] == 1 and "over --max-head-age 3600 s" in strict["failures"][0]


def test_heads_from_is_the_first_seq_with_a_head_signature_and_never_moves(site):
    store = site["store"]
    assert heads_from(store) == 1
    for _seq, _h, body, *_ in store.outbox_after(0, 1000):
        assert wire.decode_body(body)["heads_from"] == 1
    store.meta_set("chain.heads_from", "1")
    assert heads_from(store) == 1


def test_a_receiver_that_lost_its_tail_gets_it_resent_on_the_next_head_statement(site):
    """An honest receiver restored from a backup (or a dishonest one, caught) answers a statement
    with its shorter chain: the gateway resends the same bytes and the bank's run is clean again."""
    bigger_site(site)
    tip, keep = truncate(site["receiver"], "gw-real", 3)
    assert run(site)["failed"] >= 1
    ident = load_identity(site["store"].path.parent)
    s = Sender(site["store"], HttpTransport(site["receiver"].url), heads=HeadSigner(site["store"], ident))
    asyncio.run(s.send_pending())
    with site["receiver"].rdb.read() as conn:
        assert _one(conn, "SELECT last_seq FROM gateways WHERE id = 'gw-real'")[0] == tip
    assert run(site)["failures"] == []


def test_head_statements_travel_over_mqtt_next_to_the_batches(receiver, mosquitto, tmp_path: Path):
    """The real MQTT transport publishes the statement on {prefix}/{gateway}/head; the receiver's
    shared subscription verifies it and answers on the ack topic, named by the statement's hash."""
    from cloud_helpers import PREFIX, wait_for

    from cloud_stub.mqtt_ingest import MqttIngest
    from gateway.profile.schema import MqttCfg
    from gateway.uplink.mqtt import MqttTransport

    ing = MqttIngest(receiver.rdb, *mosquitto, prefix=PREFIX)
    ing.start()
    state = tmp_path / "gw"
    init_identity(state, "gw-mqtt", "t")
    enroll(state, receiver.url, issue_token(receiver.rdb, "ent-m")["token"])
    store = Store(state / "edgeproof.db", "NORMAL")
    try:
        wait_for(lambda: ing.connected)
        time.sleep(0.1)
        store.add_indicators([{"name": "energy.kwh", "category": "energy", "subject": "m", "window_start": T0 + 900 * i,
                               "window_len": 900, "value": 1.0, "unit": "kWh", "quality": [], "version": 1,
                               "detail": {}} for i in range(3)])
        Batcher(store, load_identity(state), max_records=1).pack_all()
        transport = MqttTransport(MqttCfg(host=mosquitto[0], port=mosquitto[1], topic_prefix=PREFIX), "gw-mqtt")
        sender = Sender(store, transport, heads=HeadSigner(store, load_identity(state)))

        async def go() -> None:
            try:
                await sender.send_pending()
            finally:
                await transport.close()

        asyncio.run(go())
        assert (sender.status.acknowledged, sender.status.heads_sent) == (3, 1), sender.status
    finally:
        store.close()
        ing.stop()
    assert ing.handled["accepted"] == 4
    with receiver.rdb.read() as conn:
        assert conn.execute("SELECT seq, transport FROM head_statements").fetchall() == [(3, "mqtt")]
    token = add_bank(receiver.rdb, "b-m", "ent-m")["token"]
    s = verify_feed(receiver.url, "ent-m", token, pin_of(receiver))
    assert s["failures"] == [] and s["heads"]["gw-mqtt"]["signed_seq"] == 3


def test_the_heads_page_is_documented_signed_and_guarded(site):
    from cloud_stub import feed_models

    receiver, tokens = site["receiver"], site["tokens"]
    status, page = http("GET", f"{receiver.url}/v1/feed/ent-1/heads", token=tokens["energy"])
    assert status == 200
    feed_models.HeadsPage.model_validate(page)
    signed = wire.verify_report(page["page_signature"], wire.unb64(site["pin"], "pin"))
    assert signed == {k: v for k, v in page.items() if k != "page_signature"}
    gw = page["gateways"][0]
    assert gw["gateway_id"] == "gw-real" and gw["chain"]["seq"] == max(site["seqs"])
    assert json.loads(wire.unb64(gw["statements"][0]["body"], "b"))["hash"] == gw["chain"]["hash"]
    assert http("GET", f"{receiver.url}/v1/feed/ent-1/heads")[1]["code"] == "unauthenticated"
    assert http("GET", f"{receiver.url}/v1/feed/ent-2/heads", token=tokens["all"])[0] == 403
    status, spec = http("GET", f"{receiver.url}/openapi.json")
    op = spec["paths"]["/v1/feed/{enterprise_id}/heads"]["get"]
    assert op["tags"] == ["bank feed"] and {"200", "401", "403"} <= set(op["responses"])
    assert "requestBody" in spec["paths"]["/v1/heads"]["post"]


def test_random_submissions_to_post_heads_are_json_4xx_and_store_nothing(site):
    """Hypothesis drives POST /v1/heads with random bytes, random JSON and near-valid envelopes.
    Whatever the gateway's key did not sign is a JSON 4xx and stores nothing (not even a finding);
    what it did sign is answered with JSON, and accepted only when it is a well-formed statement."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    receiver = site["receiver"]
    url = f"{receiver.url}/v1/heads"
    ident = load_identity(site["store"].path.parent)
    stranger = SigningKey.generate()
    base = wire.head_statement("gw-real", "ent-1", ident.kid, max(site["seqs"]), "0" * 64, time.time(), 1)
    values = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=30) | st.floats(
        allow_nan=False, allow_infinity=False)
    mutated = st.builds(lambda k, v: {**base, k: v}, st.sampled_from(sorted(base)), values)

    def envelope(obj: Any, key: SigningKey, kid: str) -> bytes:
        try:
            body = wire.canonical_json(obj)
        except wire.WireError:
            body = b"{}"
        return wire.SignedHeadStatement(body, key.sign(wire.HEADSTMT_PREFIX + body).signature, kid).envelope()

    stranger_kid = wire.key_id(bytes(stranger.verify_key))
    unsigned = (st.binary(max_size=300)
                | st.builds(lambda o: json.dumps(o).encode(), st.dictionaries(st.text(max_size=8), values,
                                                                              max_size=5))
                | st.builds(lambda o: envelope(o, stranger, ident.kid), mutated)  # forged for the gateway's kid
                | st.builds(lambda o: envelope({**o, "kid": stranger_kid}, stranger, stranger_kid), mutated))
    before = _counts(receiver)

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(unsigned)
    def post_unsigned(data: bytes) -> None:
        status, out = http("POST", url, data)
        assert isinstance(out, dict) and out["status"] in ("rejected", "error"), (data, status, out)
        assert 400 <= status < 500 and isinstance(out["code"], str) and out["message"], (data, out)
        assert _counts(receiver) == before, data

    post_unsigned()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(mutated)
    def post_signed(stmt: dict[str, Any]) -> None:
        status, out = http("POST", url, envelope(stmt, ident.signing_key, ident.kid))
        assert isinstance(out, dict) and isinstance(out.get("status"), str), out
        if status == 200:
            wire.check_head_statement(stmt)  # only a well-formed statement is kept
        else:
            assert 400 <= status < 500 and out["status"] == "rejected" and out["message"], out

    post_signed()
    assert http("GET", f"{receiver.url}/healthz")[0] == 200


def test_a_state_file_from_before_head_statements_still_loads_and_gains_them(site, tmp_path: Path):
    from cloud_stub import feed_verify_state

    first = run(site, since={})
    old = {k: v for k, v in first["state"].items() if k != "heads"}  # as an older verifier wrote it
    path = tmp_path / "state.json"
    doc = feed_verify_state.empty(site["receiver"].url)
    doc["enterprises"]["ent-1"] = old
    feed_verify_state.save(path, doc)
    loaded = feed_verify_state.load(path, site["receiver"].url)
    s = run(site, since=loaded["enterprises"]["ent-1"])
    assert s["failures"] == [] and s["state"]["heads"]["gw-real"]["heads_from"] == 1
    doc["enterprises"]["ent-1"]["heads"] = {"gw-real": {"statement": "x", "heads_from": 1}}
    feed_verify_state.save(path, doc)
    with pytest.raises(feed_verify_state.StateError, match=r"key 'enterprises.ent-1.heads.gw-real': expected"):
        feed_verify_state.load(path, site["receiver"].url)
