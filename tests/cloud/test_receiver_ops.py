"""Receiver observability and hardening: /metrics, rate limits (429 + Retry-After), the JSON access log,
TLS on `cloud serve` with a pinned self-signed certificate, alert delivery from `cloud serve`'s own worker,
and `cloud install-service`.

Real receivers on loopback (in-process for metrics and limits; `python -m cloud_stub serve` as a process for
TLS, the access log and the worker), a certificate made by openssl here, `systemd-analyze verify` when present.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cloud_helpers import FakeGateway, indicator, wait_for
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from test_alert_delivery import Hook

from cloud_stub import webhook_sig
from cloud_stub.analysis import analyse
from cloud_stub.banks import add_bank
from cloud_stub.cli import cloud
from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import issue_token
from cloud_stub.http_api import create_app
from cloud_stub.ops_options import OpsOptions
from cloud_stub.rate_limit import Buckets, Limit, RateLimits
from cloud_stub.server import Running
from cloud_stub.service import ReceiverService, render_unit


def get(url: str, token: str | None = None, headers: dict[str, str] | None = None,
        context: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


# -- metrics ---------------------------------------------------------------------------------------------------


def test_metrics_show_ingest_rejections_silence_and_store(receiver, gw) -> None:
    for i in range(3):
        assert receiver.post(gw.next(records=[indicator(i)]).envelope())[1]["status"] == "accepted"
    assert receiver.post(b'{"format": "edgeproof-batch/1", "kid": "nope", "body": "", "sig": ""}')[0] == 403
    status, headers, body = get(f"{receiver.url}/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    m = samples(body.decode())
    assert m[("edgeproof_ingest_batches_total", (("code", ""), ("status", "accepted"), ("transport", "http")))] >= 3
    assert sum(v for (n, lab), v in m.items() if n == "edgeproof_unauthenticated_rejections_total") >= 1
    assert m[("edgeproof_stored_batches_total", ())] == 3
    assert m[("edgeproof_ingest_verify_seconds_count", (("transport", "http"),))] >= 4
    silence = m[("edgeproof_gateway_seconds_since_contact", (("enterprise", "ent-1"), ("gateway", "gw-1")))]
    assert 0 <= silence < 60
    assert m[("edgeproof_alert_outbox", (("state", "pending"),))] == 0
    assert m[("edgeproof_db_size_bytes", ())] > 0


def test_metrics_access_loopback_or_token(tmp_path, rdb) -> None:
    from nacl.signing import SigningKey

    token = "metrics-token-0123456789abcdef"
    running = Running(create_app(rdb, SigningKey.generate(), OpsOptions(metrics_token=token)))
    try:
        assert get(f"{running.url}/metrics")[0] == 200  # a direct client on this host
        proxied = {"X-Forwarded-For": "203.0.113.9"}  # what a reverse proxy on this host adds
        status, _, body = get(f"{running.url}/metrics", headers=proxied)
        assert status == 403 and json.loads(body)["code"] == "forbidden"
        assert get(f"{running.url}/metrics", token=token, headers=proxied)[0] == 200
        status, _, body = get(f"{running.url}/metrics", token="wrong-token-wrong-token")
        assert status == 401 and json.loads(body)["code"] == "unauthenticated"
    finally:
        running.stop()


# -- rate limits -----------------------------------------------------------------------------------------------


def test_rate_limits_per_token_and_per_address(tmp_path, rdb) -> None:
    from nacl.signing import SigningKey

    limits = RateLimits(token=Limit(0.5, 2), address=Limit(0.5, 3), exempt_loopback=False)
    a = add_bank(rdb, "bank-a", "ent-1")["token"]
    b = add_bank(rdb, "bank-b", "ent-1")["token"]
    running = Running(create_app(rdb, SigningKey.generate(), OpsOptions(rate_limits=limits)))
    try:
        url = f"{running.url}/v1/feed/enterprises"
        assert [get(url, a)[0] for _ in range(2)] == [200, 200]
        status, headers, body = get(url, a)
        assert status == 429 and int(headers["retry-after"]) >= 1
        out = json.loads(body)
        assert out["code"] == "rate_limited" and out["status"] == "error" and "token" in out["message"]
        assert get(url, b)[0] == 200  # another bank has its own bucket
        # invented tokens share their address's bucket: no fresh bucket per guess
        guesses = [get(url, f"bank_guess{i}")[0] for i in range(5)]
        assert guesses[:3] == [401, 401, 401] and guesses[3:] == [429, 429]
        assert get(f"{running.url}/healthz")[0] == 429  # same address, no token
        assert get(f"{running.url}/metrics")[0] == 200  # never limited: the operator must see the flood
        m = samples(get(f"{running.url}/metrics")[2].decode())
        assert m[("edgeproof_http_rate_limited_total", (("kind", "address"),))] >= 3
    finally:
        running.stop()


def test_loopback_clients_are_exempt_by_default(tmp_path, rdb) -> None:
    from nacl.signing import SigningKey

    running = Running(create_app(rdb, SigningKey.generate(), OpsOptions(rate_limits=RateLimits(
        token=Limit(0.1, 1), address=Limit(0.1, 1)))))
    try:
        assert {get(f"{running.url}/healthz")[0] for _ in range(5)} == {200}
        assert get(f"{running.url}/healthz", headers={"X-Forwarded-For": "198.51.100.7"})[0] == 200
        assert get(f"{running.url}/healthz", headers={"X-Forwarded-For": "198.51.100.7"})[0] == 429
    finally:
        running.stop()


@settings(max_examples=100, deadline=None, database=None)
@given(rate=st.floats(0.01, 1000), burst=st.integers(1, 1000),
       gaps=st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=200))
def test_bucket_never_allows_more_than_burst_plus_rate_times_time(rate: float, burst: int,
                                                                   gaps: list[float]) -> None:
    buckets, limit, now, allowed = Buckets(10), Limit(rate, burst), 1000.0, 0
    for gap in gaps:
        now += gap
        wait = buckets.take("k", limit, now)
        assert wait >= 0
        allowed += wait == 0
    assert allowed <= burst + rate * (now - 1000.0) + 1e-6
    assert allowed >= min(len(gaps), burst)  # the burst is always available at the start


@given(st.text(max_size=40))
def test_limit_parser_errors_are_value_errors(text: str) -> None:
    try:
        limit = Limit.parse(text)
    except ValueError as exc:
        assert "expected RATE/UNIT" in str(exc) or "above zero" in str(exc)
    else:
        assert limit.rate > 0 and limit.burst >= 1


def test_limit_parser_examples() -> None:
    assert Limit.parse("20/s") == Limit(20, 20)
    assert Limit.parse("600/min,burst=50") == Limit(10, 50)
    assert Limit.parse("1/h") == Limit(1 / 3600, 1)
    with pytest.raises(ValueError, match="expected RATE/UNIT"):
        Limit.parse("20 per second")


# -- cloud serve: TLS, access log, delivery worker ----------------------------------------------------------------


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=receiver.test",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=30)
    os.chmod(key, 0o600)
    return cert, key


def _post(url: str, data: bytes, ctx: ssl.SSLContext) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_over_tls_with_access_log_and_alert_worker(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    db = tmp_path / "receiver.db"
    access = tmp_path / "access.jsonl"
    ready = tmp_path / "ready.json"
    rdb = ReceiverDB(db)
    hook = Hook()
    bank_token = add_bank(rdb, "bank-a", "ent-1")["token"]
    runner = CliRunner()
    assert runner.invoke(cloud, ["channel", "add", "--db", str(db), "--name", "a", "--kind", "webhook", "--bank",
                                 "bank-a", "--url", hook.url]).exit_code == 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "EDGEPROOF_METRICS_TOKEN": "metrics-token-0123456789abcdef"}
    proc = subprocess.Popen([sys.executable, "-m", "cloud_stub", "serve", "--db", str(db), "--port", "0",
                             "--ready-file", str(ready), "--tls-cert", str(cert), "--tls-key", str(key),
                             "--access-log", str(access), "--deliver-every", "0.2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        wait_for(lambda: ready.exists() or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        url = json.loads(ready.read_text())["url"]
        assert url.startswith("https://127.0.0.1:")
        pinned = ssl.create_default_context(cafile=str(cert))  # the client trusts this certificate only
        assert get(f"{url}/healthz", context=pinned)[0] == 200
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            get(f"{url}/healthz", context=ssl.create_default_context())  # not in the system's trust store
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            get(url.replace("https://", "http://") + "/healthz")  # no plain HTTP on the TLS port
        # a real alert over TLS: enroll, equivocate, analyse; the serve process's worker delivers it
        gw = FakeGateway("gw-1", "ent-1")
        assert _post(f"{url}/v1/enroll", json.dumps(gw.enroll_request(issue_token(rdb, "ent-1")["token"])).encode(),
                     pinned)[0] == 200
        first = gw.next(records=[indicator(0)])
        assert _post(f"{url}/v1/batches", first.envelope(), pinned)[0] == 200
        assert _post(f"{url}/v1/batches", gw.make(seq=1, prev=json.loads(first.body)["prev"],
                                                  records=[indicator(0, 7.0)]).envelope(), pinned)[0] == 409
        assert get(f"{url}/v1/feed/enterprises", bank_token, context=pinned)[0] == 200
        analyse(rdb, "ent-1")
        wait_for(lambda: len(hook.requests) == 3, timeout=20)
        key_doc = json.loads(get(f"{url}/v1/receiver/key", context=pinned)[2])
        public = base64.b64decode(key_doc["public_key"])
        for req in hook.requests:
            webhook_sig.verify(public, req["headers"], req["body"])
    finally:
        proc.terminate()
        proc.wait(15)
        hook.close()
        rdb.close()
    lines = [json.loads(ln) for ln in access.read_text().splitlines()]
    assert oct(access.stat().st_mode & 0o777) == "0o600"
    by_path = {(d["method"], d["path"]): d for d in lines}
    assert by_path[("GET", "/healthz")]["status"] == 200
    assert by_path[("POST", "/v1/enroll")]["actor"] == "gateway"
    assert by_path[("GET", "/v1/feed/enterprises")]["actor"] == "bank"
    assert all(set(d) >= {"ts", "method", "path", "status", "duration_ms", "client", "actor"} for d in lines)
    assert {d["status"] for d in lines if d["path"] == "/v1/batches"} == {200, 409}
    assert bank_token not in access.read_text()


def test_serve_refuses_a_bad_tls_setup(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    db = str(tmp_path / "r.db")
    runner = CliRunner()
    r = runner.invoke(cloud, ["serve", "--db", db, "--port", "0", "--tls-cert", str(cert)])
    assert r.exit_code != 0 and "--tls-cert and --tls-key go together" in r.output
    os.chmod(key, 0o644)
    r = runner.invoke(cloud, ["serve", "--db", db, "--port", "0", "--tls-cert", str(cert), "--tls-key", str(key)])
    assert r.exit_code != 0 and "readable by others" in r.output
    os.chmod(key, 0o600)
    r = runner.invoke(cloud, ["serve", "--db", db, "--port", "0", "--tls-cert", str(key), "--tls-key", str(key)])
    assert r.exit_code != 0 and "--tls-cert/--tls-key" in r.output
    r = runner.invoke(cloud, ["serve", "--db", db, "--port", "0", "--rate-limit", "fast"])
    assert r.exit_code != 0 and "expected RATE/UNIT" in r.output


# -- install-service -------------------------------------------------------------------------------------------


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    return root


def test_install_service_dry_run_changes_nothing(tmp_path: Path) -> None:
    root = _root(tmp_path)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    r = CliRunner().invoke(cloud, ["install-service", "--root", str(root), "--exec", sys.executable, "--dry-run",
                                   "--port", "443", "--tls-cert", "/etc/edgeproof-receiver/cert.pem",
                                   "--tls-key", "/etc/edgeproof-receiver/key.pem"])
    assert r.exit_code == 0, r.output
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert "User=edgeproof-receiver" in r.output and "AmbientCapabilities=CAP_NET_BIND_SERVICE" in r.output
    assert "--tls-cert /etc/edgeproof-receiver/cert.pem" in r.output and "useradd --prefix" in r.output
    r = CliRunner().invoke(cloud, ["install-service", "--root", str(root), "--dry-run", "--db",
                                   "postgresql://recv:secret@db/edgeproof"])
    assert r.exit_code != 0 and "PGPASSWORD" in r.output


def test_install_service_into_a_root_tree(tmp_path: Path) -> None:
    if shutil.which("useradd") is None or os.geteuid() != 0:
        pytest.skip("needs root and useradd to add the user under --root")
    root = _root(tmp_path)
    r = CliRunner().invoke(cloud, ["install-service", "--root", str(root), "--exec", sys.executable])
    assert r.exit_code == 0, r.output
    unit = root / "etc/systemd/system/edgeproof-receiver.service"
    assert unit.read_text() == render_unit(ReceiverService(exec_path=sys.executable))
    assert "edgeproof-receiver:" in (root / "etc/passwd").read_text()
    env = root / "etc/edgeproof-receiver/receiver.env"
    assert oct(env.stat().st_mode & 0o777) == "0o600"
    wants = root / "etc/systemd/system/multi-user.target.wants/edgeproof-receiver.service"
    assert os.readlink(wants) == "/etc/systemd/system/edgeproof-receiver.service"
    again = CliRunner().invoke(cloud, ["install-service", "--root", str(root), "--exec", sys.executable])
    assert again.exit_code == 0, again.output  # idempotent: same unit, user kept
    changed = CliRunner().invoke(cloud, ["install-service", "--root", str(root), "--exec", sys.executable,
                                         "--port", "9000"])
    assert changed.exit_code != 0 and "--force" in changed.output


def test_unit_is_hardened_and_passes_systemd_analyze(tmp_path: Path) -> None:
    svc = ReceiverService(exec_path=str(Path(sys.executable).parent / "edgeproof"), mqtt="127.0.0.1:1883")
    text = render_unit(svc)
    keys = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    want = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateDevices": "yes",
            "CapabilityBoundingSet": "", "UMask": "0077", "StateDirectoryMode": "0700", "User": "edgeproof-receiver",
            "Restart": "always", "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6"}
    for k, v in want.items():
        assert keys.get(k) == v, k
    assert keys["ExecStart"].split()[1:3] == ["cloud", "serve"] and "--mqtt 127.0.0.1:1883" in keys["ExecStart"]
    analyze = shutil.which("systemd-analyze")
    if analyze is None or not Path(svc.exec_path).exists():
        return  # the structural checks above stand alone
    path = tmp_path / "edgeproof-receiver.service"
    path.write_text(text)
    res = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    bad = [ln for ln in res.stderr.splitlines() if "edgeproof-receiver.service" in ln]
    assert not bad, bad  # no unknown key, no bad value in our unit (systemd only warns about those)


def test_systemd_analyze_would_catch_a_bad_key(tmp_path: Path) -> None:
    """The check above can fail: an unknown key in the same unit is reported."""
    analyze = shutil.which("systemd-analyze")
    exe = Path(sys.executable).parent / "edgeproof"
    if analyze is None or not exe.exists():
        pytest.skip("systemd-analyze not installed")
    path = tmp_path / "edgeproof-receiver.service"
    path.write_text(render_unit(ReceiverService(exec_path=str(exe))).replace("UMask=0077", "UMaskk=0077"))
    res = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert "UMaskk" in res.stderr


def test_a_rate_limited_gateway_loses_nothing(tmp_path: Path, rdb) -> None:
    """The real gateway uplink against a receiver limiting its address: 429s are 'later', every batch arrives once."""
    import asyncio

    from nacl.signing import SigningKey

    from gateway.identity import enroll, init_identity, load_identity
    from gateway.store import Store
    from gateway.uplink.batcher import Batcher
    from gateway.uplink.heads import HeadSigner
    from gateway.uplink.http import HttpTransport
    from gateway.uplink.sender import Sender
    from gateway.uplink.transport import TransportError

    limits = RateLimits(token=Limit(50, 50), address=Limit(8, 3), exempt_loopback=False)
    running = Running(create_app(rdb, SigningKey.generate(), OpsOptions(rate_limits=limits)))
    state = tmp_path / "gw"
    try:
        init_identity(state, "gw-rl", "t")
        enroll(state, running.url, issue_token(rdb, "ent-1")["token"])
        store = Store(state / "edgeproof.db", "NORMAL")
        rows = [{"name": "energy.kwh", "category": "energy", "subject": "m", "window_start": 1764201600 + 900 * i,
                 "window_len": 900, "value": float(i), "unit": "kWh", "quality": [], "version": 1, "detail": {}}
                for i in range(12)]
        store.add_indicators(rows)
        seqs = Batcher(store, load_identity(state), max_records=1).pack_all()
        sender = Sender(store, HttpTransport(running.url), heads=HeadSigner(store, load_identity(state)))
        refused = 0

        def drained() -> bool:
            nonlocal refused
            try:
                asyncio.run(sender.send_pending())
            except TransportError as exc:
                assert "HTTP 429" in str(exc), exc
                refused += 1
            return sender.backlog() == 0

        wait_for(drained, timeout=30)
        assert refused >= 1  # the limit did bite
        with rdb.read() as conn:
            stored = [r[0] for r in conn.execute("SELECT seq FROM batches WHERE gateway_id = 'gw-rl' ORDER BY seq")]
        assert stored == list(range(1, len(seqs) + 1)) and len(seqs) == 12
        store.close()
    finally:
        running.stop()


def test_feed_verify_waits_out_429s(site) -> None:
    """A bank's verifier against a receiver that limits its token: it waits as Retry-After says and still
    verifies everything (the same summary as without limits)."""
    from cloud_stub.feed_verify import verify_feed

    r, token = site["receiver"], site["tokens"]["all"]
    plain = verify_feed(r.url, "ent-1", token, site["pin"])
    limits = RateLimits(token=Limit(4, 4), address=Limit(100, 100), exempt_loopback=False)
    limited = Running(create_app(r.rdb, r.key, OpsOptions(rate_limits=limits)))
    key = ("edgeproof_http_rate_limited_total", (("kind", "token"),))
    try:
        before = samples(get(f"{limited.url}/metrics")[2].decode()).get(key, 0)  # the counter is per process
        out = verify_feed(limited.url, "ent-1", token, site["pin"])
        after = samples(get(f"{limited.url}/metrics")[2].decode())[key]
    finally:
        limited.stop()
    assert out["failures"] == [] and out["verified"] == plain["verified"] > 0
    assert after > before  # it was limited, and waited
