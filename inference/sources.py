"""Camera and file sources behind one small interface, chosen by URI.

=====================  ==============================================================
``picamera:0``         Raspberry Pi camera through picamera2 (apt python3-picamera2)
``v4l2:0`` or ``0``    USB/CSI camera through OpenCV's V4L2 backend
``v4l2:/dev/video2``   the same, by device path
``rtsp://...``         IP camera through OpenCV's FFMPEG backend (TCP transport)
``http(s)://...``      MJPEG/HLS stream through FFMPEG
a file path            a video file (mp4, avi, mkv...) or a single image
a directory            the images in it, in name order (a frame dump, a test set)
=====================  ==============================================================

``read()`` returns a frame, ``None`` at the end of a file, raises ``CorruptFrame`` for
one undecodable frame (the stream goes on) and ``SourceError`` when the source is gone
(the caller reconnects with backoff). Credentials in stream URIs never reach errors/logs.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.errors import N_, CorruptFrame, SourceError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


def redact(uri: str) -> str:
    """rtsp://user:secret@host/... -> rtsp://***@host/... (camera passwords stay out of logs)."""
    return re.sub(r"(^[a-z][a-z0-9+.-]*://)[^/@]*@", r"\1***@", str(uri))


@dataclass
class Frame:
    image: Any  # HxWx3 BGR uint8 (numpy)
    ts: float  # seconds: media time for files, wall clock for live sources
    index: int


class Source:
    live: bool = True

    def __init__(self, uri: str) -> None:
        self.uri = redact(uri)
        self.index = 0

    def open(self) -> None:
        raise NotImplementedError

    def read(self) -> Frame | None:
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 - optional
        pass

    def __enter__(self) -> Source:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OpenCVSource(Source):
    """cv2.VideoCapture for V4L2 devices, network streams and video files."""

    def __init__(self, uri: str, target: str | int, live: bool, api: str = "ANY",
                 timeout_ms: int = 5000) -> None:
        super().__init__(uri)
        self.target = target
        self.live = live
        self.api = api
        self.timeout_ms = timeout_ms
        self.cap: Any = None
        self.fps = 0.0

    def open(self) -> None:
        try:
            import cv2
        except ImportError as exc:
            raise SourceError(self.uri, N_("OpenCV is not installed: pip install 'edgeproof[vision]'")) from exc
        if isinstance(self.target, str) and self.target.startswith(("rtsp://", "rtsps://")):
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
        api = getattr(cv2, f"CAP_{self.api}", cv2.CAP_ANY)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self.timeout_ms,
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.timeout_ms] if self.live else []
        if not self.live and not Path(str(self.target)).is_file():
            raise SourceError(self.uri, N_("no such video file"))
        cap = cv2.VideoCapture(self.target, api, params)
        if not cap.isOpened():
            cap.release()
            raise SourceError(self.uri, N_("cannot open (device absent, busy, stream unreachable or format "
                                           "unsupported by this OpenCV build)"))
        self.cap = cap
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.index = 0

    def read(self) -> Frame | None:
        import cv2

        if self.cap is None:
            raise SourceError(self.uri, N_("not open"))
        if not self.live and not os.path.exists(str(self.target)):
            # An open file handle would keep reading a deleted file: a stat per frame (~1 us)
            # notices an unmounted share or a removed recording at once.
            raise SourceError(self.uri, N_("video file vanished while reading"))
        ok, img = self.cap.read()
        if not ok or img is None:
            if self.live:
                raise SourceError(self.uri, N_("no frame from camera (disconnected or stream stalled)"))
            return None
        if self.live:
            ts = time.time()
        else:
            ms = self.cap.get(cv2.CAP_PROP_POS_MSEC)
            ts = ms / 1000.0 if ms and ms > 0 else self.index / (self.fps or 25.0)
        frame = Frame(img, ts, self.index)
        self.index += 1
        return frame

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


class ImageFolderSource(Source):
    """The images of a directory (or one image) in name order, at ``fps`` media time.

    A file that disappears mid-stream (the directory was unmounted, the camera's dump
    folder was cleaned) raises SourceError; a file that exists but does not decode is
    one CorruptFrame."""

    live = False

    def __init__(self, uri: str, path: Path, fps: float = 5.0) -> None:
        super().__init__(uri)
        self.path = path
        self.fps = fps
        self.files: list[Path] = []

    def open(self) -> None:
        if self.path.is_file():
            self.files = [self.path]
        elif self.path.is_dir():
            self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        else:
            raise SourceError(self.uri, N_("no such file or directory"))
        self.index = 0

    def read(self) -> Frame | None:
        import cv2

        if self.index >= len(self.files):
            return None
        p = self.files[self.index]
        i = self.index
        self.index += 1
        if not p.exists():
            raise SourceError(self.uri, N_("{name} vanished while reading"), name=p.name)
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise CorruptFrame(N_("{p}: cannot decode image"), p=p)
        return Frame(img, i / self.fps, i)


class PiCameraSource(Source):
    """Raspberry Pi camera via picamera2, imported only when asked for: it is not on PyPI
    in a usable form (needs the libcamera bindings from apt)."""

    def __init__(self, uri: str, camera: int = 0, size: tuple[int, int] = (1280, 720)) -> None:
        super().__init__(uri)
        self.camera = camera
        self.size = size
        self.cam: Any = None

    def open(self) -> None:
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]
        except ImportError as exc:
            raise SourceError(self.uri, N_("picamera2 is not available: on Raspberry Pi OS run 'sudo apt install "
                                           "python3-picamera2' and create the venv with --system-site-packages; or "
                                           "use a USB camera (v4l2:0)")) from exc
        try:
            cam = Picamera2(camera_num=self.camera)
            # "RGB888" is stored B,G,R in memory: what OpenCV calls BGR.
            cam.configure(cam.create_video_configuration(main={"size": self.size, "format": "RGB888"}))
            cam.start()
        except Exception as exc:  # picamera2/libcamera raise many types
            raise SourceError(self.uri, N_("cannot start Pi camera {camera} ({error})"),
                                        camera=self.camera, error=exc) from exc
        self.cam = cam
        self.index = 0

    def read(self) -> Frame | None:
        if self.cam is None:
            raise SourceError(self.uri, N_("not open"))
        try:
            img = self.cam.capture_array("main")
        except Exception as exc:
            raise SourceError(self.uri, N_("capture failed ({error})"), error=exc) from exc
        frame = Frame(img, time.time(), self.index)
        self.index += 1
        return frame

    def close(self) -> None:
        if self.cam is not None:
            try:
                self.cam.stop()
                self.cam.close()
            finally:
                self.cam = None


def open_source(uri: str | int, fps: float = 5.0, size: tuple[int, int] = (1280, 720)) -> Source:
    """Build (not open) the source a URI names. Raises SourceError for an unknown form."""
    s = str(uri).strip()
    if s.startswith("picamera"):
        rest = s.partition(":")[2] or "0"
        if not rest.isdigit():
            raise SourceError(s, N_("expected picamera:<index>"))
        return PiCameraSource(s, int(rest), size)
    if s.isdigit():
        return OpenCVSource(s, int(s), live=True, api="V4L2")
    if s.startswith("v4l2:"):
        rest = s[5:]
        target: str | int = int(rest) if rest.isdigit() else rest
        return OpenCVSource(s, target, live=True, api="V4L2")
    if s.lower().startswith(STREAM_SCHEMES):
        return OpenCVSource(s, s, live=True, api="FFMPEG")
    if s.startswith("file:"):
        s = s[5:]
    p = Path(s).expanduser()
    if p.is_dir() or p.suffix.lower() in IMAGE_EXTS:
        return ImageFolderSource(s, p, fps)
    return OpenCVSource(s, str(p), live=False, api="ANY")
