"""Bundles from the receiver: `edgeproof cloud releases publish` on the receiver, `edgeproof update
fetch` on the gateway (a request signed by its enrolled key), the same verification as a USB stick.
Real receiver on loopback, real enrollment; nothing mocked."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from cloud_helpers import http
from nacl.signing import SigningKey

from cloud_stub import receiver_key
from cloud_stub.cli import cloud
from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import issue_token, revoke_key
from cloud_stub.http_api import create_app
from cloud_stub.server import Running
from gateway import wire
from gateway.cli import cli
from gateway.identity import enroll, init_identity, load_identity
from gateway.update.switch import current_version


@pytest.fixture
def site(world, tmp_path: Path):
    """A receiver with its database, and a gateway enrolled with it that pins the world's release key."""
    db = tmp_path / "receiver.db"
    rdb = ReceiverDB(db)
    running = Running(create_app(rdb, receiver_key.load_or_create(tmp_path / "receiver.key")))
    state = tmp_path / "gw"
    init_identity(state, "gw-upd", "t")
    enroll(state, running.url, issue_token(rdb, "ent-1")["token"])
    shutil.copy(world.pinned, state / "release.pub")
    yield {"url": running.url, "db": str(db), "rdb": rdb, "state": state}
    running.stop()
    rdb.close()


def _publish(site, bundle: Path, *extra: str) -> None:
    out = CliRunner().invoke(cloud, ["releases", "publish", str(bundle), "--db", site["db"], *extra])
    assert out.exit_code == 0, out.output


def _fetch(world, site, *extra: str):
    return CliRunner().invoke(cli, ["update", "fetch", "--state", str(site["state"]), "--root", str(world.root),
                                    "--ack-deadline", "0", "--restart-cmd", "", *extra])


def test_fetch_and_apply_from_the_receiver(world, site, run_version) -> None:
    _publish(site, world.bundle("2.0.0"))
    out = _fetch(world, site)
    assert out.exit_code == 0, out.output
    assert "updated 1.0.0 -> 2.0.0" in out.output
    assert run_version(world.root) == "2.0.0"
    again = _fetch(world, site)
    assert again.exit_code == 0 and "no release newer than 2.0.0 on the receiver" in again.output
    # a release for another enterprise's gateways is not served to this one
    _publish(site, world.bundle("3.0.0"), "--enterprise", "ent-2")
    assert "no release newer than 2.0.0" in _fetch(world, site).output
    listed = CliRunner().invoke(cloud, ["releases", "list", "--db", site["db"]])
    assert "2.0.0  *" in listed.output and "3.0.0  ent-2" in listed.output


def test_a_receiver_cannot_push_an_unpinned_release(world, site, run_version) -> None:
    """The receiver (or anyone in its place) serves a bundle signed by another key: refused."""
    _publish(site, world.bundle("2.0.0", key=SigningKey.generate()))
    out = _fetch(world, site)
    assert out.exit_code == 1 and "but this gateway pins" in out.output
    assert run_version(world.root) == "1.0.0"


def test_fetch_needs_an_enrolled_unrevoked_key(world, site) -> None:
    _publish(site, world.bundle("2.0.0"))
    url = f"{site['url']}/v1/updates/latest?have=1.0.0"
    ident = load_identity(site["state"])
    now = int(time.time())

    def auth(**kw) -> str:
        args = {"gateway_id": ident.gateway_id, "kid": ident.kid, "ts": now, "have": "1.0.0",
                "signing_key": ident.signing_key, **kw}
        return wire.update_fetch_authorization(**args)

    for header in (None, "Bearer not-a-gateway", auth(signing_key=SigningKey.generate()),
                   auth(ts=now - 3600), auth(have="0.1"), auth(gateway_id="gw-other")):
        status, body = http("GET", url, token=None) if header is None else _get(url, header)
        assert status == 401 and body["code"] == "unauthorized", (header, status, body)
    status, body = _get(f"{site['url']}/v1/updates/latest?have=not..a..version", auth())
    assert status == 400 and "not a PEP 440 version" in body["message"]
    status, _ = _get(url, auth())
    assert status == 200
    revoke_key(site["rdb"], ident.kid)
    status, body = _get(url, auth())
    assert status == 401
    out = _fetch(world, site)
    assert out.exit_code == 1 and "HTTP 401" in out.output
    assert current_version(world.root) == "1.0.0"


def _get(url: str, authorization: str) -> tuple[int, dict]:
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, headers={"Authorization": authorization})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
            return resp.status, {}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
