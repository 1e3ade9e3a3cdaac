"""Shared helpers for the status page and process tests: a real receiver, a real enrolled
state, a real Gateway (sim-factory, emulated devices) on its own event loop thread."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import msgspec

from gateway.commands.demo import _cloud, start_receiver
from gateway.identity import KEY_FILE, enroll, init_identity
from gateway.profile import load_profile
from gateway.profile.schema import Profile

ENTERPRISE = "ent-status-test"


class Receiver:
    """The real receiver as a separate process (as `edgeproof demo` runs it)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc, self.url = start_receiver(workdir)
        self.db = workdir / "receiver.db"

    def token(self, enterprise: str = ENTERPRISE) -> str:
        return _cloud("token", "--db", str(self.db), "--enterprise", enterprise)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except Exception:  # noqa: BLE001
            self.proc.kill()


def enrolled_state(receiver: Receiver, state: Path, site: str = "sim-factory") -> str:
    """init + enroll for real; returns the (one-time, now used) token."""
    token = receiver.token()
    init_identity(state, None, site)
    enroll(state, receiver.url, token)
    return token


def make_profile(receiver_url: str | None, name: str = "sim-factory", bind: str = "127.0.0.1:0",
                 password_file: str | None = None) -> Profile:
    p = load_profile(name)
    up = (msgspec.structs.replace(p.uplink, transport="http", url=receiver_url, interval_s=1.0)
          if receiver_url else msgspec.structs.replace(p.uplink, transport="none"))
    return msgspec.structs.replace(
        p, uplink=up,
        status=msgspec.structs.replace(p.status, enabled=True, bind=bind, password_file=password_file),
        indicators=msgspec.structs.replace(p.indicators, windows=["5s"], grace_s=1.0, interval_s=1.0))


class GatewayThread:
    """A real Gateway on its own asyncio loop in a thread, so tests can use blocking HTTP."""

    def __init__(self, gw: Any) -> None:
        self.gw = gw
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gateway-loop", daemon=True)

    def call(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> GatewayThread:
        self.thread.start()
        self.call(self.gw.start())
        return self

    def stop(self) -> None:
        try:
            self.call(self.gw.stop(drain_s=2.0))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


def http_get(url: str, headers: dict[str, str] | None = None, method: str = "GET",
             timeout: float = 15) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str, **kw: Any) -> Any:
    code, _, body = http_get(url, **kw)
    assert code == 200, (url, code, body[:300])
    return json.loads(body)


def wait_for(pred: Any, timeout: float = 60, every: float = 0.5, what: str = "condition") -> Any:
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = pred()
        except Exception as exc:  # noqa: BLE001 - keep waiting, report the last failure
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def secret_forms(raw: bytes) -> list[bytes]:
    """Every way a key could show up in text: raw, hex (both cases), base64 (std/url, padded or not)."""
    forms = [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw),
             base64.urlsafe_b64encode(raw), base64.b64encode(raw).rstrip(b"="),
             base64.urlsafe_b64encode(raw).rstrip(b"=")]
    return [f for f in forms if len(f) >= 16]


def gateway_secrets(state: Path, token: str | None) -> dict[str, list[bytes]]:
    """The private key seed (and the 64-byte expanded key), the enrollment token, the privacy HMAC key."""
    from nacl.signing import SigningKey

    seed = (state / KEY_FILE).read_bytes()
    out = {"seed": secret_forms(seed), "expanded": secret_forms(SigningKey(seed)._signing_key)}
    if token:
        out["token"] = [token.encode()]
    for key in state.glob("*.key"):
        if key.name != KEY_FILE:
            out[key.name] = secret_forms(key.read_bytes())
    return out


def assert_no_secret(text: bytes, secrets: dict[str, list[bytes]], where: str) -> None:
    for name, forms in secrets.items():
        for f in forms:
            assert f not in text, f"{name} appears in {where}"
