"""The release bundle: one uncompressed tar (wheels are already compressed) holding

* ``manifest.json`` -- version, created, project, python tag, min_from, wheels (name, sha256, size);
* ``manifest.sig``  -- JSON {"alg": "ed25519", "kid", "sig"}: the signature over the manifest's exact
  bytes under a domain prefix (sign bytes, not objects: the verifier never re-encodes);
* ``wheels/*.whl``  -- the project wheel and every dependency wheel, nothing else.

Reading is defensive: only those member names, regular files only, sizes capped, no paths that
climb out of the staging directory -- a bundle comes from a USB stick anyone may have written.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from gateway.i18n import N_
from gateway.update.errors import UpdateError
from gateway.update.release_key import key_id

FORMAT = "edgeproof-release/1"
SIGN_PREFIX = b"edgeproof-release/v1\x00"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
WHEEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}\.whl$")
MAX_MANIFEST_BYTES = 1 << 20
MAX_BUNDLE_BYTES = 2 << 30


def python_tag() -> str:
    """The interpreter tag a bundle must be built for (compiled wheels such as PyNaCl are per tag)."""
    return f"{sys.implementation.name[:2]}{sys.version_info.major}{sys.version_info.minor}"


@dataclass(frozen=True)
class Manifest:
    version: str
    created: str
    project: str
    python: str
    min_from: str | None
    wheels: tuple[dict[str, Any], ...]
    raw: bytes

    @classmethod
    def parse(cls, raw: bytes, where: str) -> Manifest:
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UpdateError(N_("{where}: {MANIFEST} is not JSON ({error})"),
                              where=where, MANIFEST=MANIFEST, error=exc) from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise UpdateError(N_("{where}: {MANIFEST} key 'format': expected '{FORMAT}'"),
                              where=where, MANIFEST=MANIFEST, FORMAT=FORMAT)
        for key in ("version", "created", "project", "python"):
            if not isinstance(doc.get(key), str) or not doc[key]:
                raise UpdateError(N_("{where}: {MANIFEST} key '{key}': expected a non-empty string"),
                                  where=where, MANIFEST=MANIFEST, key=key)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}", doc["project"]):
            raise UpdateError(N_("{where}: {MANIFEST} key 'project': expected a distribution name such as 'edgeproof'"),
                              where=where, MANIFEST=MANIFEST)
        if doc.get("min_from") is not None and not isinstance(doc["min_from"], str):
            raise UpdateError(N_("{where}: {MANIFEST} key 'min_from': expected a version string or null"),
                              where=where, MANIFEST=MANIFEST)
        wheels = doc.get("wheels")
        if not isinstance(wheels, list) or not wheels:
            raise UpdateError(N_("{where}: {MANIFEST} key 'wheels': expected a non-empty list"),
                              where=where, MANIFEST=MANIFEST)
        seen = set()
        for i, w in enumerate(wheels):
            ok = (isinstance(w, dict) and isinstance(w.get("name"), str) and WHEEL_NAME.match(w["name"])
                  and isinstance(w.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", w["sha256"])
                  and isinstance(w.get("size"), int) and not isinstance(w["size"], bool) and w["size"] >= 0)
            if not ok:
                raise UpdateError(N_("{where}: {MANIFEST} key 'wheels[{i}]': expected {{name: '<file>.whl', sha256: "
                                     "64 hex digits, size: bytes}}"), where=where, MANIFEST=MANIFEST, i=i)
            if w["name"] in seen:
                raise UpdateError(N_("{where}: {MANIFEST} key 'wheels[{i}]': duplicate wheel {w}"),
                                  where=where, MANIFEST=MANIFEST, i=i, w=w['name'])
            seen.add(w["name"])
        return cls(doc["version"], doc["created"], doc["project"], doc["python"], doc.get("min_from"),
                   tuple(wheels), raw)

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "created": self.created, "project": self.project, "python": self.python,
                "min_from": self.min_from, "wheels": [dict(w) for w in self.wheels]}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build(key: SigningKey, wheels_dir: Path, version: str, out: Path, *, project: str = "edgeproof",
          min_from: str | None = None, python: str | None = None) -> Manifest:
    """Sign the wheels of ``wheels_dir`` as release ``version`` and write the bundle to ``out``."""
    files = sorted(p for p in wheels_dir.glob("*.whl") if p.is_file())
    if not files:
        raise UpdateError(N_("{wheels_dir}: no *.whl files to put in a release bundle"), wheels_dir=wheels_dir)
    prefix = project.replace("-", "_").lower() + "-"
    if not any(p.name.lower().startswith(prefix + version.lower() + "-") for p in files):
        raise UpdateError(N_("{wheels_dir}: no wheel of {project} {version} (expected {prefix}{version}-*.whl)"),
                          wheels_dir=wheels_dir, project=project, version=version, prefix=prefix)
    for p in files:
        if not WHEEL_NAME.match(p.name):
            raise UpdateError(N_("{p}: wheel file name not accepted in a bundle"), p=p)
    doc = {"format": FORMAT, "project": project, "version": version, "python": python or python_tag(),
           "min_from": min_from, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "wheels": [{"name": p.name, "sha256": sha256_file(p), "size": p.stat().st_size} for p in files]}
    raw = json.dumps(doc, sort_keys=True, indent=1).encode() + b"\n"
    sig = {"alg": "ed25519", "kid": key_id(bytes(key.verify_key)),
           "sig": key.sign(SIGN_PREFIX + raw).signature.hex()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, MANIFEST, raw)
        _add_bytes(tar, SIGNATURE, json.dumps(sig, sort_keys=True).encode() + b"\n")
        for p in files:
            tar.add(p, arcname=f"wheels/{p.name}", recursive=False)
    tmp.replace(out)
    return Manifest.parse(raw, str(out))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def unpack(bundle: Path, staging: Path) -> tuple[bytes, bytes]:
    """Copy the bundle's members into ``staging`` (wheels under staging/wheels) and return the
    manifest and signature bytes, unverified. Rejects anything but the three kinds of member."""
    if not bundle.is_file():
        raise UpdateError(N_("{bundle}: no such bundle file"), bundle=bundle)
    if bundle.stat().st_size > MAX_BUNDLE_BYTES:
        raise UpdateError(N_("{bundle}: larger than {MAX_BUNDLE_BYTES} bytes; not a release bundle"),
                          bundle=bundle, MAX_BUNDLE_BYTES=MAX_BUNDLE_BYTES)
    manifest = signature = None
    try:
        (staging / "wheels").mkdir(parents=True, exist_ok=True)
        with tarfile.open(bundle, "r:") as tar:
            for m in tar:
                if not m.isfile():
                    raise UpdateError(N_("{bundle}: member '{name}' is not a regular file"), bundle=bundle, name=m.name)
                if m.name in (MANIFEST, SIGNATURE):
                    if m.size > MAX_MANIFEST_BYTES:
                        raise UpdateError(N_("{bundle}: member '{name}' is too large"), bundle=bundle, name=m.name)
                    data = tar.extractfile(m).read()  # type: ignore[union-attr]
                    if m.name == MANIFEST:
                        manifest = data
                    else:
                        signature = data
                    continue
                name = m.name.removeprefix("wheels/")
                if not m.name.startswith("wheels/") or not WHEEL_NAME.match(name):
                    raise UpdateError(N_("{bundle}: unexpected member '{name}' (expected {MANIFEST}, {SIGNATURE} or "
                                         "wheels/<file>.whl)"),
                                      bundle=bundle, name=m.name, MANIFEST=MANIFEST, SIGNATURE=SIGNATURE)
                src = tar.extractfile(m)
                with open(staging / "wheels" / name, "wb") as f:
                    while chunk := src.read(1 << 20):  # type: ignore[union-attr]
                        f.write(chunk)
    except (tarfile.TarError, EOFError) as exc:
        raise UpdateError(N_("{bundle}: not a readable release bundle (tar: {error})"),
                          bundle=bundle, error=exc) from exc
    except OSError as exc:  # a stick pulled out mid-read, a full disk under the staging directory
        raise UpdateError(N_("{bundle}: cannot unpack into {staging}: {value}"),
                          bundle=bundle, staging=staging, value=exc.strerror or exc) from exc
    if manifest is None or signature is None:
        raise UpdateError(N_("{bundle}: missing {value}"),
                          bundle=bundle, value=MANIFEST if manifest is None else SIGNATURE)
    return manifest, signature
