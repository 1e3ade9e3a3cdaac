"""Alerts reach people: a real receiver raises a real alert (an equivocating gateway, then analysis), and
the delivery worker sends it to real endpoints on loopback: a webhook server that checks the receiver's
signature, an SMTP server (aiosmtpd), apprise's json:// standing in for DingTalk, and a webhook that is
down for a while (connection refused) and then comes back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from cloud_helpers import FakeGateway, free_port, indicator, wait_for
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_stub import channels, outbox, webhook_sig
from cloud_stub.analysis import analyse
from cloud_stub.banks import add_bank
from cloud_stub.cli import cloud
from cloud_stub.errors import ReceiverError

FAST = outbox.Policy(timeout=2.0, base_delay=0.05, max_delay=0.2, max_attempts=20)


class Hook:
    """A webhook endpoint on loopback that records what it was sent."""

    def __init__(self, port: int = 0, status: int = 200) -> None:
        self.requests: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Mailbox]]:
    box = Mailbox()
    ctl = Controller(box, hostname="127.0.0.1", port=free_port())
    ctl.start()
    yield ctl, box
    ctl.stop()


def _header(req: dict[str, Any], name: str) -> str:
    return next(v for k, v in req["headers"].items() if k.lower() == name)


def raise_equivocation_alert(receiver: Any, gw: FakeGateway) -> int:
    """Real alerts: the gateway signs two different batches with one seq, then analysis runs. That raises three
    alerts (red_finding, equivocation, warning_level); returns the equivocation's id."""
    first = gw.next(records=[indicator(0)])
    assert receiver.post(first.envelope())[1]["status"] == "accepted"
    other = gw.make(seq=gw.seq, prev=first.body and json.loads(first.body)["prev"], records=[indicator(0, 9.9)])
    status, out = receiver.post(other.envelope())
    assert status == 409 and out["code"] == "equivocation", out
    analyse(receiver.rdb, gw.enterprise, signing_key=receiver.key)
    with receiver.rdb.read() as conn:
        rows = conn.execute("SELECT id FROM alerts WHERE enterprise_id = ? AND kind = 'equivocation'",
                            (gw.enterprise,)).fetchall()
    assert len(rows) == 1, rows
    return int(rows[0][0])


def test_signed_webhook_reaches_a_granted_bank_only_and_verifies(receiver, hook: Hook) -> None:
    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    add_bank(receiver.rdb, "bank-a", "ent-1", "energy")
    add_bank(receiver.rdb, "bank-b", "ent-2")  # granted another enterprise only
    other = Hook()
    try:
        channels.add(receiver.rdb, "a-hook", "webhook", {"url": hook.url}, bank_id="bank-a")
        channels.add(receiver.rdb, "b-hook", "webhook", {"url": other.url}, bank_id="bank-b")
        alert_id = raise_equivocation_alert(receiver, gw)
        out = outbox.deliver_due(receiver.rdb, receiver.key, FAST)
        assert out == {"delivered": 3}
        assert other.requests == []  # bank-b holds no grant for ent-1
    finally:
        other.close()
    assert len(hook.requests) == 3
    [req] = [r for r in hook.requests if json.loads(r["body"])["alert"]["kind"] == "equivocation"]
    public = bytes(receiver.key.verify_key)
    idem = webhook_sig.verify(public, req["headers"], req["body"])
    doc = json.loads(req["body"])
    assert doc["alert"]["id"] == alert_id and doc["alert"]["kind"] == "equivocation"
    assert doc["idempotency_key"] == idem and doc["channel"] == "a-hook"
    # a changed body, or another key, does not verify
    with pytest.raises(webhook_sig.WebhookSignatureError, match="does not verify"):
        webhook_sig.verify(public, req["headers"], req["body"].replace(b"equivocation", b"equivocatioN"))
    with pytest.raises(webhook_sig.WebhookSignatureError, match="from now"):
        webhook_sig.verify(public, req["headers"], req["body"], now=int(_header(req, "edgeproof-timestamp")) + 900)
    # queued once: another round sends nothing, and the log has the one attempt
    assert outbox.deliver_due(receiver.rdb, receiver.key, FAST) == {}
    log = outbox.deliveries(receiver.rdb, "a-hook")
    assert [(d["status"], d["http_status"]) for d in log] == [("delivered", 200)] * 3
    assert idem in {d["idempotency_key"] for d in log}


def test_endpoint_down_for_a_while_gets_the_alert_once_with_a_stable_key(receiver) -> None:
    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    port = free_port()  # nothing listens here yet: connection refused
    channels.add(receiver.rdb, "ops-hook", "webhook", {"url": f"http://127.0.0.1:{port}/x"})
    raise_equivocation_alert(receiver, gw)
    failures = 0
    while failures < 3:  # refused three times
        out = outbox.deliver_due(receiver.rdb, receiver.key, FAST)
        # a channel failing now holds its other alerts back: one attempt per round, not one per alert
        assert out in ({}, {"retry": 1}), out
        failures += out.get("retry", 0)
    hook = Hook(port)  # the endpoint comes back
    delivered = 0

    def round_() -> bool:
        nonlocal delivered
        delivered += outbox.deliver_due(receiver.rdb, receiver.key, FAST).get("delivered", 0)
        return delivered == 3

    try:
        wait_for(round_, timeout=10)
        assert outbox.deliver_due(receiver.rdb, receiver.key, FAST) == {}
        assert len(hook.requests) == 3  # each alert once
        log = outbox.deliveries(receiver.rdb, "ops-hook", limit=1000)
        public = bytes(receiver.key.verify_key)
        for req in hook.requests:
            alert_id = json.loads(req["body"])["alert"]["id"]
            tries = [d for d in reversed(log) if d["alert_id"] == alert_id]
            assert [d["status"] for d in tries] == ["retry"] * (len(tries) - 1) + ["delivered"]
            assert all("ConnectionRefusedError" in d["error"] for d in tries[:-1])
            assert len({d["idempotency_key"] for d in tries}) == 1  # the same key on every attempt
            assert webhook_sig.verify(public, req["headers"], req["body"]) == tries[0]["idempotency_key"]
        assert sum(d["status"] == "retry" for d in log) == 3
        assert max(sum(d["alert_id"] == a for d in log) for a in {d["alert_id"] for d in log}) >= 4
    finally:
        hook.close()


def test_refusing_endpoint_fails_without_endless_retries(receiver) -> None:
    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    bad = Hook(status=410)
    try:
        channels.add(receiver.rdb, "gone", "webhook", {"url": bad.url})
        raise_equivocation_alert(receiver, gw)
        assert outbox.deliver_due(receiver.rdb, receiver.key, FAST) == {"failed": 3}
        assert outbox.deliver_due(receiver.rdb, receiver.key, FAST) == {}
        log = outbox.deliveries(receiver.rdb, "gone")
        assert len(log) == 3 and all(e["http_status"] == 410 and "HTTP 410" in e["error"] for e in log)
    finally:
        bad.close()


def test_email_over_smtp_on_loopback(receiver, smtp) -> None:
    ctl, box = smtp
    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    channels.add(receiver.rdb, "ops-mail", "smtp", {"host": "127.0.0.1", "port": ctl.port,
                                                    "from": "receiver@example.org", "to": ["ops@example.org"]})
    alert_id = raise_equivocation_alert(receiver, gw)
    assert outbox.deliver_due(receiver.rdb, receiver.key, FAST) == {"delivered": 3}
    assert len(box.messages) == 3 and all(m.rcpt_tos == ["ops@example.org"] for m in box.messages)
    [text] = [m.content.decode() for m in box.messages if b"Subject: [EdgeProof] red equivocation" in m.content]
    assert "equivocation" in text and f"Alert {alert_id}" in text and "Message-ID: <ep-" in text


def test_apprise_json_url_stands_in_for_dingtalk(receiver, hook: Hook) -> None:
    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    channels.add(receiver.rdb, "im", "apprise", {"url": f"json://127.0.0.1:{hook.port}/dingtalk"})
    raise_equivocation_alert(receiver, gw)
    assert outbox.deliver_due(receiver.rdb, receiver.key, FAST) == {"delivered": 3}
    docs = [json.loads(r["body"]) for r in hook.requests]
    assert all(r["path"].startswith("/dingtalk") for r in hook.requests)
    [doc] = [d for d in docs if d["title"] == "[EdgeProof] red equivocation: ent-1"]
    assert "Alert " in doc["message"] and "conflicting_hash" in doc["message"]


def test_unreachable_apprise_target_is_logged_and_retried(receiver) -> None:
    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    channels.add(receiver.rdb, "im-down", "apprise", {"url": f"json://127.0.0.1:{free_port()}/x"})
    raise_equivocation_alert(receiver, gw)
    assert outbox.deliver_due(receiver.rdb, receiver.key, FAST) == {"retry": 1}  # the other two wait with it
    [entry] = outbox.deliveries(receiver.rdb, "im-down")
    assert entry["status"] == "retry" and entry["error"].startswith("json://…: ")
    with receiver.rdb.read() as conn:
        assert conn.execute("SELECT state, attempts, count(*) FROM alert_outbox GROUP BY state, attempts"
                            " ORDER BY attempts").fetchall() == [("pending", 0, 2), ("pending", 1, 1)]


def test_worker_thread_delivers_while_ingest_goes_on(receiver, hook: Hook) -> None:
    """The background worker (as in `cloud serve`) delivers; a channel that hangs does not hold ingest."""
    import socket

    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    try:
        channels.add(receiver.rdb, "slow", "webhook", {"url": f"http://127.0.0.1:{silent.getsockname()[1]}/"})
        channels.add(receiver.rdb, "fast", "webhook", {"url": hook.url})
        worker = outbox.DeliveryWorker(receiver.rdb, receiver.key, interval=0.05,
                                       policy=outbox.Policy(timeout=1, base_delay=0.05, parallel=4))
        worker.start()
        try:
            raise_equivocation_alert(receiver, gw)
            wait_for(lambda: len(hook.requests) == 3, timeout=5)
            import time

            t0 = time.monotonic()
            for i in range(1, 6):
                assert receiver.post(gw.next(records=[indicator(i)]).envelope())[1]["status"] == "accepted"
            assert time.monotonic() - t0 < 0.9  # the slow channel is still hanging in the worker
        finally:
            worker.stop()
    finally:
        silent.close()


def test_worker_runs_on_the_shared_periodic_loop(receiver, hook: Hook, caplog) -> None:
    """Alert delivery is a PeriodicTask (cloud_stub/periodic.py), like the analysis and the fleet check: its first
    round runs at once (not an interval later), a round that fails is logged under the delivery's event and the
    next round still runs, and a stop ends it promptly."""
    import logging
    import time

    from cloud_stub.periodic import PeriodicTask

    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    channels.add(receiver.rdb, "fast", "webhook", {"url": hook.url})
    raise_equivocation_alert(receiver, gw)
    worker = outbox.DeliveryWorker(receiver.rdb, receiver.key, interval=0.05, policy=FAST)
    assert isinstance(worker, PeriodicTask)
    broken = [True]
    real_round = worker.round

    def round_once_broken(rdb):  # the first round meets a store error; the loop must go on
        if broken and broken.pop():
            raise RuntimeError("store went away for a moment")
        real_round(rdb)

    worker.round = round_once_broken
    with caplog.at_level(logging.ERROR, logger="cloud_stub.outbox"):
        worker.start()
        try:
            wait_for(lambda: len(hook.requests) >= 1, timeout=5)
        finally:
            t0 = time.monotonic()
            worker.stop()
    assert time.monotonic() - t0 < 5 and not worker._thread.is_alive()
    assert worker.rounds >= 2
    assert [r for r in caplog.records if getattr(r, "event", None) == "alert_delivery_error"]
    slow = outbox.DeliveryWorker(receiver.rdb, receiver.key, interval=3600, policy=FAST)
    n = len(hook.requests)
    gw2 = FakeGateway("gw-2", "ent-2")  # a new alert for the next worker (the first one was delivered)
    receiver.enroll(gw2)
    raise_equivocation_alert(receiver, gw2)
    slow.start()
    try:  # an hour's interval, yet the first round runs now
        wait_for(lambda: len(hook.requests) > n, timeout=5)
    finally:
        slow.stop()


def test_channel_secrets_never_printed_and_bad_config_named(receiver, tmp_path, monkeypatch) -> None:
    db = str(receiver.db_path)
    add_bank(receiver.rdb, "bank-a", "ent-1")
    run = CliRunner()
    monkeypatch.setenv("DING", "dingtalk://s3cr3tT0ken1234567890abcdef/")
    r = run.invoke(cloud, ["channel", "add", "--db", db, "--name", "ding", "--kind", "apprise", "--url-env", "DING",
                           "--bank", "bank-a"])
    assert r.exit_code == 0, r.output
    monkeypatch.setenv("PW", "hunter2-password")
    r = run.invoke(cloud, ["channel", "add", "--db", db, "--name", "mail", "--kind", "smtp", "--smtp-host",
                           "127.0.0.1", "--mail-from", "a@b.example", "--mail-to", "c@d.example", "--smtp-user", "u",
                           "--smtp-password-env", "PW"])
    assert r.exit_code == 0, r.output
    r = run.invoke(cloud, ["channel", "add", "--db", db, "--name", "hook", "--kind", "webhook", "--url",
                           "https://bank.example/hook?token=abcdef123"])
    assert r.exit_code == 0, r.output
    listed = run.invoke(cloud, ["channel", "list", "--db", db, "--json"])
    text = listed.output + run.invoke(cloud, ["channel", "list", "--db", db]).output
    for secret in ("s3cr3tT0ken", "hunter2", "abcdef123"):
        assert secret.lower() not in text.lower()
    assert {c["name"] for c in json.loads(listed.output)} == {"ding", "mail", "hook"}
    bad = run.invoke(cloud, ["channel", "add", "--db", db, "--name", "x", "--kind", "webhook", "--url", "ftp://h/"])
    assert bad.exit_code == 1 and "bad_channel" in bad.output and "webhook --url" in bad.output
    bad = run.invoke(cloud, ["channel", "add", "--db", db, "--name", "y", "--kind", "smtp", "--smtp-host", "h",
                             "--mail-from", "nobody", "--mail-to", "c@d.example"])
    assert bad.exit_code == 1 and "'nobody' is not an e-mail address" in bad.output
    bad = run.invoke(cloud, ["channel", "add", "--db", db, "--name", "z", "--kind", "webhook", "--url", "http://h/",
                             "--bank", "no-such-bank"])
    assert bad.exit_code == 1 and "unknown_bank" in bad.output
    r = run.invoke(cloud, ["channel", "remove", "--db", db, "--name", "hook"])
    assert r.exit_code == 0, r.output
    assert "hook" not in {c["name"] for c in json.loads(run.invoke(cloud, ["channel", "list", "--db", db,
                                                                           "--json"]).output)}
    with pytest.raises(ReceiverError, match="unknown_channel"):
        channels.remove(receiver.rdb, "hook")


def test_cli_test_deliver_and_deliveries(receiver, hook: Hook, tmp_path) -> None:
    db = str(receiver.db_path)
    key = str(tmp_path / "receiver.key")
    run = CliRunner()
    assert run.invoke(cloud, ["channel", "add", "--db", db, "--name", "ops", "--kind", "webhook", "--url",
                              hook.url]).exit_code == 0
    r = run.invoke(cloud, ["channel", "test", "--db", db, "--key", key, "--name", "ops", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["status"] == "delivered"
    webhook_sig.verify(bytes(receiver.key.verify_key), hook.requests[0]["headers"], hook.requests[0]["body"])
    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    raise_equivocation_alert(receiver, gw)
    r = run.invoke(cloud, ["deliver", "--db", db, "--key", key, "--json"])
    assert r.exit_code == 0 and json.loads(r.output) == {"delivered": 3}, r.output
    r = run.invoke(cloud, ["deliveries", "--db", db, "--json"])
    assert [d["status"] for d in json.loads(r.output)] == ["delivered"] * 3 + ["test"]
    down = run.invoke(cloud, ["channel", "add", "--db", db, "--name", "down", "--kind", "webhook", "--url",
                              f"http://127.0.0.1:{free_port()}/"])
    assert down.exit_code == 0
    r = run.invoke(cloud, ["channel", "test", "--db", db, "--key", key, "--name", "down"])
    assert r.exit_code == 1 and "ConnectionRefusedError" in r.output


def test_webhook_is_not_redirected(receiver) -> None:
    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    target = Hook()
    mover = Hook(status=307)
    try:
        channels.add(receiver.rdb, "moved", "webhook", {"url": mover.url})
        raise_equivocation_alert(receiver, gw)
        assert outbox.deliver_due(receiver.rdb, receiver.key, FAST) == {"failed": 3}
        assert target.requests == [] and len(mover.requests) == 3
        assert all("redirects are not followed" in d["error"] for d in outbox.deliveries(receiver.rdb, "moved"))
    finally:
        target.close()
        mover.close()


HEADER_TEXT = st.text(max_size=40)


@settings(max_examples=100, deadline=None, database=None)
@given(headers=st.dictionaries(st.sampled_from(["EdgeProof-Timestamp", "Idempotency-Key", "EdgeProof-Signature",
                                                "edgeproof-signature", "X"]), HEADER_TEXT, max_size=4),
       body=st.binary(max_size=64), public=st.binary(min_size=0, max_size=40))
def test_webhook_verify_refuses_junk_with_its_own_error(headers: dict[str, str], body: bytes, public: bytes) -> None:
    """Whatever arrives, verify() either returns the key of a genuinely signed request or raises
    WebhookSignatureError: never another exception a bank's endpoint would turn into a 500."""
    with pytest.raises(webhook_sig.WebhookSignatureError):
        webhook_sig.verify(public, headers, body)


@settings(max_examples=100, deadline=None, database=None)
@given(kind=st.sampled_from(["webhook", "smtp", "apprise", "sms", ""]),
       config=st.dictionaries(st.sampled_from(["url", "host", "port", "to", "from", "security", "username"]),
                              st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.text(max_size=30),
                                        st.lists(st.text(max_size=20), max_size=3)), max_size=6))
def test_channel_config_is_valid_or_a_named_400(kind: str, config: dict[str, Any]) -> None:
    try:
        stored = channels.validate_config(kind, config)
    except ReceiverError as exc:
        assert exc.code == "bad_channel" and exc.http_status == 400 and "--" in exc.message
    else:
        assert kind in channels.KINDS and json.loads(json.dumps(stored)) == stored


def _store_alert(rdb: Any, ent: str, kind: str, detail: dict[str, Any]) -> int:
    """An alert stored the way analysis stores one (chained with feed_chain.link)."""
    from cloud_stub import feed_chain
    from cloud_stub.db import iso, utc_now

    now = iso(utc_now())
    with rdb.write() as conn:
        prev, h = feed_chain.link(conn, "alert", {"enterprise_id": ent, "kind": kind, "level": "red", "created": now},
                                  detail)
        return int(conn.execute(
            "INSERT INTO alerts (enterprise_id, kind, level, detail, created, dedupe, prev, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (ent, kind, "red", json.dumps(detail, sort_keys=True), now, f"{ent}/{kind}/1", prev, h)).fetchone()[0])


def test_a_bank_gets_an_alert_about_ungranted_indicators_without_its_detail(receiver) -> None:
    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    machine = {**indicator(0), "name": "machine.on_min", "category": "machine"}
    assert receiver.post(gw.next(records=[indicator(0), machine]).envelope())[1]["status"] == "accepted"
    add_bank(receiver.rdb, "bank-energy", "ent-1", "energy")
    add_bank(receiver.rdb, "bank-all", "ent-1")
    limited, full = Hook(), Hook()
    try:
        channels.add(receiver.rdb, "limited", "webhook", {"url": limited.url}, bank_id="bank-energy")
        channels.add(receiver.rdb, "full", "webhook", {"url": full.url}, bank_id="bank-all")
        alert_id = _store_alert(receiver.rdb, "ent-1", "machine_idle", {"indicators": ["machine.on_min"],
                                                                        "message": "machine idle 9 h"})
        assert outbox.deliver_due(receiver.rdb, receiver.key, FAST) == {"delivered": 2}
        [lim] = [json.loads(r["body"])["alert"] for r in limited.requests]
        [ful] = [json.loads(r["body"])["alert"] for r in full.requests]
    finally:
        limited.close()
        full.close()
    assert lim["id"] == ful["id"] == alert_id
    assert lim.get("withheld") is True and "detail" not in lim and "machine idle" not in json.dumps(lim)
    assert ful["detail"]["message"] == "machine idle 9 h"
    assert lim["hash"] == ful["hash"] and lim["detail_sha256"] == ful["detail_sha256"]  # the same chained alert


def test_a_revoked_grant_cancels_what_was_queued(receiver, hook: Hook) -> None:
    from cloud_stub.banks import revoke_grant

    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    add_bank(receiver.rdb, "bank-a", "ent-1")
    channels.add(receiver.rdb, "a", "webhook", {"url": hook.url}, bank_id="bank-a")
    _store_alert(receiver.rdb, "ent-1", "equivocation", {"gateway_id": "gw-1"})
    assert outbox.enqueue_new(receiver.rdb) == 1
    revoke_grant(receiver.rdb, "bank-a", "ent-1")
    assert outbox.deliver_due(receiver.rdb, receiver.key, FAST) == {"cancelled": 1}
    assert hook.requests == []
    [entry] = outbox.deliveries(receiver.rdb, "a")
    assert entry["status"] == "cancelled" and "no live grant" in entry["error"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_and_a_refused_password(receiver) -> None:
    """An SMTP server that wants a login (without TLS here: the test server has no certificate): the right
    password delivers; a wrong one is a final failure at once, not a day of retries."""
    from aiosmtpd.smtp import AuthResult, LoginPassword

    box = Mailbox()
    seen: list[bytes] = []

    def auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == b"alerts" and data.password == b"right-password"
        seen.append(data.login if isinstance(data, LoginPassword) else b"?")
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 235 or 535 itself

    ctl = Controller(box, hostname="127.0.0.1", port=free_port(), authenticator=auth, auth_require_tls=False,
                     auth_required=True)
    ctl.start()
    try:
        gw = FakeGateway("gw-1", "ent-1")
        receiver.enroll(gw)
        base = {"host": "127.0.0.1", "port": ctl.port, "from": "r@example.org", "to": ["ops@example.org"],
                "username": "alerts"}
        channels.add(receiver.rdb, "mail-ok", "smtp", {**base, "password": "right-password"})
        channels.add(receiver.rdb, "mail-bad", "smtp", {**base, "password": "wrong"})
        raise_equivocation_alert(receiver, gw)
        out = outbox.deliver_due(receiver.rdb, receiver.key, FAST)
        assert out == {"delivered": 3, "failed": 3}, out
        assert len(box.messages) == 3 and seen.count(b"alerts") >= 4
        bad = outbox.deliveries(receiver.rdb, "mail-bad")
        assert all(d["status"] == "failed" and "login refused" in d["error"] for d in bad)
        assert "wrong" not in json.dumps(bad)
    finally:
        ctl.stop()


def test_two_receivers_on_one_store_deliver_each_alert_once(receiver, hook: Hook, tmp_path) -> None:
    """Two delivery workers (two `cloud serve` processes on one SQLite file, or K on one PostgreSQL) race for the
    same outbox: the lease on each row lets only one send it."""
    from concurrent.futures import ThreadPoolExecutor

    from cloud_stub.db import open_db

    gw = FakeGateway("gw-1", "ent-1")
    receiver.enroll(gw)
    channels.add(receiver.rdb, "ops", "webhook", {"url": hook.url})
    for i in range(4):
        channels.add(receiver.rdb, f"ops{i}", "webhook", {"url": hook.url + f"/{i}"})
    raise_equivocation_alert(receiver, gw)
    other = open_db(receiver.rdb.path) if receiver.rdb.dialect == "sqlite" else None
    stores = [receiver.rdb, other or receiver.rdb]
    try:
        with ThreadPoolExecutor(4) as pool:
            outs = list(pool.map(lambda s: outbox.deliver_due(s, receiver.key, FAST), stores * 2))
    finally:
        if other is not None:
            other.close()
    assert sum(o.get("delivered", 0) for o in outs) == 15
    keys = [_header(r, "idempotency-key") for r in hook.requests]
    assert len(keys) == 15 and len(set(keys)) == 15


def test_the_messaging_apps_url_forms_are_accepted() -> None:
    """DingTalk, WeCom and Feishu channels are apprise URLs (sending to them needs the internet: the json://
    test above stands in); each form is understood, an unknown scheme is refused by name, the token hidden."""
    for url in ("dingtalk://" + "ab12" * 16 + "/", "wecombot://" + "0123456789abcdef01234567",
                "feishu://" + "0123456789abcdef" * 2):
        assert channels.validate_config("apprise", {"url": url}) == {"url": url}
        assert channels.redact_apprise(url).endswith("://…") and "0123" not in channels.redact_apprise(url)
    with pytest.raises(ReceiverError, match="apprise does not understand 'nosuch://…'"):
        channels.validate_config("apprise", {"url": "nosuch://secret-token"})
