"""The receiver's release store on both stores (SQLite and a real throwaway PostgreSQL): the
latest release per enterprise, newer than what the gateway runs, byte for byte; bad bundles refused."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from cloud_stub import releases
from cloud_stub.db import ReceiverDB
from cloud_stub.enrollment import issue_token
from cloud_stub.errors import ReceiverError
from gateway import wire
from tests.support.postgres import postgres_rdb, postgres_server  # noqa: F401


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path):
    if request.param == "sqlite":
        db = ReceiverDB(tmp_path / "r.db")
        yield db
        db.close()
    else:
        yield request.getfixturevalue("postgres_rdb")


def test_latest_per_enterprise_and_version(store, world, tmp_path: Path) -> None:
    b2, b3 = world.bundle("2.0.0"), world.bundle("3.0.0", min_from="1.0")
    releases.publish(store, b2)
    releases.publish(store, b3, "ent-2")
    version, data, digest = releases.latest_for(store, "ent-1", "1.0.0")
    assert version == "2.0.0" and data == b2.read_bytes() and digest == hashlib.sha256(data).hexdigest()
    assert releases.latest_for(store, "ent-1", "2.0.0") is None
    assert releases.latest_for(store, "ent-2", "1.0.0")[0] == "3.0.0"
    assert releases.latest_for(store, "ent-2", "")[0] == "3.0.0"
    releases.publish(store, b2)  # republishing replaces, never duplicates
    assert [(r["version"], r["target"]) for r in releases.listing(store)] == [("2.0.0", "*"), ("3.0.0", "ent-2")]
    junk = tmp_path / "junk.bundle"
    junk.write_bytes(b"not a tar")
    with pytest.raises(ReceiverError, match=r"junk\.bundle: not a release bundle"):
        releases.publish(store, junk)


def test_authenticate_an_enrolled_gateway(store) -> None:
    from cloud_stub.enrollment import enroll

    key = SigningKey.generate()
    token = issue_token(store, "ent-1")["token"]
    out = enroll(store, token, "gw-9", wire.b64(bytes(key.verify_key)),
                 wire.b64(wire.sign_enrollment(token, "gw-9", key)))
    now = int(time.time())
    good = wire.update_fetch_authorization("gw-9", out["kid"], now, "1.0", key)
    assert releases.authenticate(store, good, "1.0") == {"gateway_id": "gw-9", "enterprise_id": "ent-1"}
    for bad, have in ((good, "1.1"), (good.replace("gw=gw-9", "gw=gw-8"), "1.0"), ("Bearer x", "1.0"),
                      (wire.update_fetch_authorization("gw-9", out["kid"], now - 301, "1.0", key), "1.0")):
        with pytest.raises(ReceiverError) as exc:
            releases.authenticate(store, bad, have)
        assert exc.value.http_status == 401
