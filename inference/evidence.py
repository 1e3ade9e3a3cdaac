"""Opt-in local evidence: a short clip around each safety event, encrypted at rest.

Frames otherwise never leave memory. When an installer enables evidence for a camera,
the last ``pre_s`` seconds are kept *in memory* as small JPEGs; on a safety event they
and the next ``post_s`` seconds are written as one clip file sealed with a PyNaCl
SecretBox (XSalsa20-Poly1305) under a key file created on site with mode 0600. Clips
are bounded in total size and deleted after ``retention_days``. Nothing here is ever
uplinked: the uplink carries indicators only, and this module has no network code.

Clip file layout, before sealing: ``EPCLIP1\\n`` + a JSON header line + for each frame a
4-byte big-endian length and the JPEG bytes.
"""

from __future__ import annotations

import json
import os
import struct
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = b"EPCLIP1\n"


def load_or_create_key(path: str | Path, create: bool = True) -> bytes:
    """The 32-byte key, created (O_EXCL, 0600) on first use. An existing key file readable
    by group/others is refused rather than silently used."""
    import nacl.secret
    import nacl.utils

    p = Path(path)
    if p.exists():
        mode = p.stat().st_mode & 0o777
        if mode & 0o077:
            raise PermissionError(f"{p}: evidence key file has mode {oct(mode)}, expected 0600")
        key = p.read_bytes()
        if len(key) != nacl.secret.SecretBox.KEY_SIZE:
            raise ValueError(f"{p}: evidence key must be {nacl.secret.SecretBox.KEY_SIZE} bytes")
        return key
    if not create:
        raise FileNotFoundError(f"{p}: evidence key file not found")
    p.parent.mkdir(parents=True, exist_ok=True)
    key = nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


@dataclass
class EvidenceConfig:
    directory: str
    key_file: str
    pre_s: float = 3.0
    post_s: float = 3.0
    fps: float = 2.0  # frames kept per second (a clip is for a human glance, not analysis)
    width: int = 480  # frames are downscaled to this width before anything is kept
    jpeg_quality: int = 70
    max_mb: float = 50.0
    retention_days: float = 7.0


class EvidenceRing:
    def __init__(self, cfg: EvidenceConfig) -> None:
        import nacl.secret

        self.cfg = cfg
        self.dir = Path(cfg.directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self._box = nacl.secret.SecretBox(load_or_create_key(cfg.key_file))
        self._pre: deque[tuple[float, bytes]] = deque(maxlen=max(1, int(cfg.pre_s * cfg.fps) + 1))
        self._post: list[tuple[float, bytes]] = []
        self._event_ts: float | None = None
        self._events = 0
        self._last_kept: float | None = None
        self.clips_written = 0
        self._last_enforced = time.monotonic()
        self.enforce()

    def _encode(self, image: Any) -> bytes | None:
        import cv2

        h, w = image.shape[:2]
        if w > self.cfg.width:
            size = (self.cfg.width, int(h * self.cfg.width / w))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.cfg.jpeg_quality])
        return buf.tobytes() if ok else None

    def add_frame(self, image: Any, ts: float, events: int = 0) -> Path | None:
        """Feed every processed frame; ``events`` = safety events this frame raised.
        Returns the clip path when one was just written."""
        now = time.monotonic()
        if now - self._last_enforced > 3600:  # retention runs even on days with no event
            self._last_enforced = now
            self.enforce()
        if events and self._event_ts is None:
            self._event_ts = ts
            self._events = events
            self._post = []
        elif events:
            self._events += events
        if self._last_kept is not None and ts - self._last_kept < 1.0 / self.cfg.fps and not events:
            return None
        jpg = self._encode(image)
        if jpg is None:
            return None
        self._last_kept = ts
        if self._event_ts is None:
            self._pre.append((ts, jpg))
            return None
        self._post.append((ts, jpg))
        if ts - self._event_ts >= self.cfg.post_s:
            return self._flush()
        return None

    def _flush(self) -> Path:
        assert self._event_ts is not None
        frames = list(self._pre) + self._post
        header = {"event_ts": self._event_ts, "events": self._events, "frames": [t for t, _ in frames],
                  "written": time.time()}
        body = bytearray(MAGIC + json.dumps(header).encode() + b"\n")
        for _, jpg in frames:
            body += struct.pack(">I", len(jpg)) + jpg
        sealed = self._box.encrypt(bytes(body))
        path = self.dir / f"clip-{int(time.time() * 1000)}-{self.clips_written}.bin"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(sealed)
        self.clips_written += 1
        self._pre.clear()
        self._post = []
        self._event_ts = None
        self.enforce()
        return path

    def enforce(self, now: float | None = None) -> list[Path]:
        """Retention by age, then by total size (oldest first). Returns deleted paths."""
        now = time.time() if now is None else now
        clips = sorted(self.dir.glob("clip-*.bin"), key=lambda p: p.stat().st_mtime)
        deleted = []
        keep = []
        for p in clips:
            if now - p.stat().st_mtime > self.cfg.retention_days * 86400:
                p.unlink(missing_ok=True)
                deleted.append(p)
            else:
                keep.append(p)
        total = sum(p.stat().st_size for p in keep)
        while keep and total > self.cfg.max_mb * 1e6:
            p = keep.pop(0)
            total -= p.stat().st_size
            p.unlink(missing_ok=True)
            deleted.append(p)
        return deleted


def read_clip(path: str | Path, key_file: str | Path) -> tuple[dict[str, Any], list[bytes]]:
    """Decrypt a clip for on-site review: (header, JPEG frames)."""
    import nacl.secret

    box = nacl.secret.SecretBox(load_or_create_key(key_file, create=False))
    body = box.decrypt(Path(path).read_bytes())
    if not body.startswith(MAGIC):
        raise ValueError(f"{path}: not an evidence clip")
    nl = body.index(b"\n", len(MAGIC))
    header = json.loads(body[len(MAGIC):nl])
    frames, i = [], nl + 1
    while i < len(body):
        (n,) = struct.unpack(">I", body[i:i + 4])
        frames.append(body[i + 4:i + 4 + n])
        i += 4 + n
    return header, frames
