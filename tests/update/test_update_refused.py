"""Bad bundles get a clear error naming the file and what was expected, leave the running version,
the versions directory and the journal untouched, and are recorded as "refused"."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from gateway.update.bundle import Manifest
from gateway.update.errors import UpdateError
from gateway.update.journal import update_summary
from gateway.update.updater import apply


def _members(bundle: Path) -> dict[str, bytes]:
    with tarfile.open(bundle) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]


def _write(path: Path, members: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return path


def _refused(world, bundle: Path, match: str, **opts) -> None:
    before = world.snapshot()
    with pytest.raises(UpdateError, match=match):
        apply(bundle, world.options(**opts))
    assert world.snapshot() == before, "a refused bundle changed the installed versions"
    assert not (world.root / "staging").exists()
    ev = update_summary(world.root)["last_event"]
    assert ev["kind"] == "refused" and ev["result"] == "refused" and str(bundle) in ev["reason"]


def test_signed_by_another_key(world) -> None:
    bundle = world.bundle("2.0.0", key=SigningKey.generate())
    _refused(world, bundle, r"bundle-\d+\.tar: signed by release key [0-9a-f]{16}, but this gateway pins")


def test_manifest_altered_after_signing(world, tmp_path: Path) -> None:
    m = _members(world.bundle("2.0.0"))
    m["manifest.json"] = m["manifest.json"].replace(b'"min_from": null', b'"min_from": "0.0.1"')
    _refused(world, _write(tmp_path / "altered.tar", m), r"altered\.tar: bad signature: the manifest was not "
             r"signed by the pinned release key")


def test_corrupt_wheel(world, tmp_path: Path) -> None:
    m = _members(world.bundle("2.0.0"))
    name = next(n for n in m if n.startswith("wheels/edgeproof-"))
    data = bytearray(m[name])
    data[len(data) // 2] ^= 0xFF
    m[name] = bytes(data)
    _refused(world, _write(tmp_path / "corrupt.tar", m),
             r"corrupt\.tar: wheel edgeproof-2\.0\.0-py3-none-any\.whl: sha256 [0-9a-f]{64}, the signed manifest says")


def test_wheel_not_in_manifest(world, tmp_path: Path) -> None:
    m = _members(world.bundle("2.0.0"))
    m["wheels/evil-1.0-py3-none-any.whl"] = b"PK\x05\x06" + bytes(18)
    _refused(world, _write(tmp_path / "extra.tar", m), r"wheels not in the signed manifest: evil-1\.0")


def test_path_escaping_member(world, tmp_path: Path) -> None:
    m = _members(world.bundle("2.0.0"))
    m["../../etc/cron.d/evil"] = b"* * * * * root sh\n"
    _refused(world, _write(tmp_path / "escape.tar", m), r"unexpected member '\.\./\.\./etc/cron\.d/evil'")
    assert not (world.base / "etc").exists()


def test_symlink_member(world, tmp_path: Path) -> None:
    link = tarfile.TarInfo("wheels/x.whl")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/shadow"
    _refused(world, _write(tmp_path / "link.tar", _members(world.bundle("2.0.0")), [link]),
             r"member 'wheels/x\.whl' is not a regular file")


def test_not_a_bundle_and_missing_file(world, tmp_path: Path) -> None:
    junk = tmp_path / "junk.bundle"
    junk.write_bytes(b"this is a text file on a USB stick\n" * 20)
    _refused(world, junk, r"junk\.bundle: not a readable release bundle")
    _refused(world, tmp_path / "absent.bundle", r"absent\.bundle: no such bundle file")


def test_wrong_python_tag(world) -> None:
    _refused(world, world.bundle("2.0.0", python="cp39"), r"manifest key 'python': bundle built for cp39, "
             r"this gateway runs cp3\d+")


def test_no_pinned_key(world, tmp_path: Path) -> None:
    before = world.snapshot()
    with pytest.raises(UpdateError, match=r"nopin\.pub: no pinned release key; run `edgeproof update pin-key"):
        apply(world.bundle("2.0.0"), world.options(pinned_key=tmp_path / "nopin.pub"))
    assert world.snapshot() == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_are_refused_cleanly(world, tmp_path: Path, data: bytes) -> None:
    """Whatever a stick holds, the answer is an UpdateError, never another exception."""
    path = tmp_path / "fuzz.bundle"
    path.write_bytes(data)
    with pytest.raises(UpdateError):
        apply(path, world.options())


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=5),
                     max_leaves=8)


@settings(max_examples=50, deadline=None)
@given(doc=st.dictionaries(st.sampled_from(["format", "version", "created", "project", "python", "min_from",
                                            "wheels"]), _json, max_size=7))
def test_manifest_parser_names_the_key(doc: dict) -> None:
    doc.setdefault("format", "edgeproof-release/1")
    try:
        m = Manifest.parse(json.dumps(doc).encode(), "b.tar")
    except UpdateError as exc:
        assert str(exc).startswith("b.tar: manifest.json")
    else:
        assert m.wheels and all(w["name"].endswith(".whl") for w in m.wheels)
