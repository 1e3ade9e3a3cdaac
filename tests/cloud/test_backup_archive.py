"""A backup archive is input like any other: whatever bytes or manifest it holds, ``restore`` either
restores it or raises BackupError naming the file and what is wrong, and never touches the target
before the checks pass (Hypothesis generates the archives)."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_stub.backup import FORMAT, BackupError, read_manifest, restore

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                  max_size=4), max_leaves=10)
_manifests = st.fixed_dictionaries(
    {"format": st.sampled_from([FORMAT, "other/1"]) | _json},
    optional={"dialect": st.sampled_from(["sqlite", "postgresql"]) | _json,
              "schema_version": st.integers(-2, 9) | _json,
              "created": _json, "counts": _json,
              "members": st.dictionaries(st.sampled_from(["receiver.sqlite", "receiver.key", "../evil", "x"]),
                                         st.text(max_size=64) | _json, max_size=3) | _json})


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def _restore_fails_cleanly(archive_bytes: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        archive, target = Path(d) / "a.tar", Path(d) / "target.db"
        archive.write_bytes(archive_bytes)
        try:
            restore(archive, str(target), Path(d) / "key")
        except BackupError as exc:
            assert str(archive) in str(exc) or "target" in str(exc) or "restored" in str(exc), exc
            assert not target.exists() or target.stat().st_size == 0 or "restored" in str(exc)
            assert not (Path(d) / "key").exists() or "restored" in str(exc)
            assert not (Path(d).parent / "evil").exists()
            return
        raise AssertionError("a generated archive restored")  # none holds a real database


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048) | _json.map(lambda v: _tar({"manifest.json": json.dumps(v).encode()})))
def test_random_bytes_are_refused_by_name(data: bytes) -> None:
    _restore_fails_cleanly(data)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_manifests, st.dictionaries(st.sampled_from(["receiver.sqlite", "receiver.key", "x"]),
                                   st.binary(max_size=64), max_size=3))
def test_any_manifest_is_checked_before_the_target_is_touched(manifest: dict[str, Any],
                                                               members: dict[str, bytes]) -> None:
    _restore_fails_cleanly(_tar({"manifest.json": json.dumps(manifest).encode(), **members}))


def test_a_manifest_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    archive.write_bytes(_tar({"manifest.json": b"[1, 2]"}))
    with pytest.raises(BackupError, match=r"a.tar: manifest.json is not a JSON object"):
        read_manifest(archive)
    archive.write_bytes(_tar({"manifest.json": json.dumps({"format": FORMAT, "dialect": "sqlite"}).encode()}))
    with pytest.raises(BackupError, match=r"a.tar: manifest.json key 'schema_version' must be an integer >= 2, "
                                          r"got None"):
        read_manifest(archive)
