"""The opt-in evidence ring: encrypted at rest, key 0600, bounded, retained, never plain."""

from __future__ import annotations

import os
import stat
import time

import numpy as np
import pytest

pytest.importorskip("nacl")

from inference.evidence import EvidenceConfig, EvidenceRing, load_or_create_key, read_clip  # noqa: E402


def _frames(n, seed=0):
    """Smooth frames (JPEGs of a few KB, like a real scene at low quality)."""
    ramp = np.linspace(0, 200, 320, dtype=np.float32)[None, :, None]
    return [np.broadcast_to(ramp + (seed * 7 + i) % 50, (240, 320, 3)).astype(np.uint8) for i in range(n)]


def test_clip_around_event_is_encrypted(tmp_path):
    cfg = EvidenceConfig(directory=str(tmp_path / "ev"), key_file=str(tmp_path / "keys" / "evidence.key"),
                         pre_s=1.0, post_s=1.0, fps=4.0)
    ring = EvidenceRing(cfg)
    key = tmp_path / "keys" / "evidence.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    written = []
    for i, f in enumerate(_frames(30)):
        ts = i * 0.25
        p = ring.add_frame(f, ts, events=1 if i == 10 else 0)
        if p:
            written.append(p)
    assert len(written) == 1
    data = written[0].read_bytes()
    assert b"\xff\xd8\xff" not in data and b"EPCLIP1" not in data  # no JPEG, no header in the clear
    assert stat.S_IMODE(written[0].stat().st_mode) == 0o600
    header, jpegs = read_clip(written[0], key)
    assert header["event_ts"] == 2.5
    assert all(j.startswith(b"\xff\xd8") for j in jpegs)
    assert 5 <= len(jpegs) <= 10  # ~1 s before and ~1 s after at 4 fps
    assert all(2.5 - 1.25 <= t <= 2.5 + 1.25 for t in header["frames"])


def test_key_file_with_loose_permissions_is_refused(tmp_path):
    key = tmp_path / "k"
    load_or_create_key(key)
    os.chmod(key, 0o644)
    with pytest.raises(PermissionError, match="0600"):
        load_or_create_key(key)


def test_retention_and_size_bound(tmp_path):
    cfg = EvidenceConfig(directory=str(tmp_path / "ev"), key_file=str(tmp_path / "k"), pre_s=0.5, post_s=0.5,
                         fps=4.0, max_mb=0.05, retention_days=1.0)
    ring = EvidenceRing(cfg)
    for i, f in enumerate(_frames(80, seed=1)):
        ring.add_frame(f, i * 0.25, events=1 if i % 10 == 5 else 0)
    clips = sorted((tmp_path / "ev").glob("clip-*.bin"))
    assert ring.clips_written >= 5
    assert 0 < len(clips) < ring.clips_written  # the oldest went to keep under max_mb
    assert sum(p.stat().st_size for p in clips) <= 0.05e6
    old = clips[-1]
    past = time.time() - 2 * 86400
    os.utime(old, (past, past))
    assert old in ring.enforce()
    assert not old.exists()
