"""Fixtures for the update tests: a release key pinned on a gateway, signed bundles of tiny real
wheels, and an update root with version 1.0.0 installed through a real update.

The root with 1.0.0 is built once per session and restored at the same path before each test
(virtualenvs are not relocatable, so a copy must live where it was built)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from gateway.update.bundle import build
from gateway.update.release_key import generate, load_private, pin
from gateway.update.updater import Options, apply

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cloud"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from update_wheels import release_wheels  # noqa: E402


@dataclass
class World:
    base: Path
    key: SigningKey
    root: Path
    state: Path
    pinned: Path
    backup: Path
    _bundles: dict[tuple, Path] = field(default_factory=dict)

    def bundle(self, version: str, healthy: bool = True, min_from: str | None = None,
               key: SigningKey | None = None, python: str | None = None) -> Path:
        """A signed bundle of the fake release (cached: the same arguments give the same file)."""
        k = (version, healthy, min_from, None if key is None else bytes(key), python)
        if k not in self._bundles:
            n = len(self._bundles)
            wheels = release_wheels(self.base / f"wheels-{n}", version, healthy)
            out = self.base / f"bundle-{n}.tar"
            build(key or self.key, wheels, version, out, min_from=min_from, python=python)
            self._bundles[k] = out
        return self._bundles[k]

    def options(self, **kw: object) -> Options:
        args: dict[str, object] = {"root": self.root, "state": self.state, "pinned_key": self.pinned,
                                   "ack_deadline_s": 0.0, **kw}
        return Options(**args)  # type: ignore[arg-type]

    def snapshot(self) -> dict[str, object]:
        """Everything an update may touch, for "untouched" comparisons."""
        from gateway.update.journal import JOURNAL
        from gateway.update.switch import current_target

        journal = self.root / JOURNAL
        return {"current": current_target(self.root),
                "versions": sorted(p.name for p in (self.root / "versions").iterdir()),
                "journal": journal.read_bytes() if journal.exists() else None}


@pytest.fixture(scope="session")
def world_base(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("updates")
    generate(base / "release.key")
    state = base / "state"
    pin(base / "release.key.pub", state / "release.pub")
    w = World(base, load_private(base / "release.key"), base / "root", state, state / "release.pub",
              base / "root-backup")
    out = apply(w.bundle("1.0.0"), w.options())
    assert out["result"] == "ok", out
    shutil.copytree(w.root, w.backup, symlinks=True)
    return w


@pytest.fixture
def world(world_base: World) -> Iterator[World]:
    """The update root as it was right after 1.0.0 was installed."""
    shutil.rmtree(world_base.root, ignore_errors=True)
    shutil.copytree(world_base.backup, world_base.root, symlinks=True)
    yield world_base


@pytest.fixture
def run_version() -> Callable[[Path], str]:
    """What `<root>/current/bin/edgeproof --version` says: the version that would really start."""
    import subprocess

    def run(root: Path) -> str:
        out = subprocess.run([str(root / "current" / "bin" / "edgeproof"), "--version"], capture_output=True,
                             text=True, timeout=30, check=True)
        return out.stdout.strip()
    return run


@pytest.fixture
def enrolled_gateway(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(state dir, receiver URL) of a gateway enrolled with a real receiver on loopback."""
    from update_site import enrolled_site

    with enrolled_site(tmp_path) as site:
        yield site
