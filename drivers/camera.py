"""Camera driver: a camera is a device whose points are counts, never pixels.

Profile::

    [[devices]]
    name = "cam-door"
    driver = "camera"
    asset = "warehouse"
    poll_interval_s = 10
    [devices.options]
    source = "rtsp://cam-door.lan/stream1"   # picamera:0, v4l2:0, 0, a file, a folder
    model = "motion"                         # line counting: motion | a model name | a .toml
    people_model = "person"                  # optional: presence and safety
    [[devices.options.lines]]
    name = "door"
    line = [0.5, 0.0, 0.5, 1.0]              # fractions of the frame (or pixels)
    [[devices.options.zones]]
    name = "forklift"
    kind = "danger"
    polygon = [[0.6, 0.5], [1.0, 0.5], [1.0, 1.0], [0.6, 1.0]]

Capture and inference run in a background thread (``inference.runner``); each
``read()`` returns cumulative counters and current gauges. A camera that is down is
reported (``camera_up`` = 0 and errors on the gauges) and retried with backoff in the
thread; ``read()`` never raises for it, so the scheduler keeps the counters flowing.
The inference package is imported only when the device opens (or a profile names a model), so
the drivers import it lazily: ``drivers`` sits above ``inference`` in the layers contract, and
never imports ``gateway``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from drivers.support.base import Driver, DriverError, ReadResult
from drivers.support.messages import N_, Message
from drivers.support.types import Point, PointSpec

if TYPE_CHECKING:
    from drivers.support.types import BusSpec as Bus
    from drivers.support.types import DeviceSpec as Device
    from drivers.support.types import ModelSpec as Model

LineName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,40}$")]


class LineOption(msgspec.Struct, forbid_unknown_fields=True):
    name: LineName
    line: Annotated[list[float], msgspec.Meta(min_length=4, max_length=4)]
    labels: list[str] | None = None


class ZoneOption(msgspec.Struct, forbid_unknown_fields=True):
    name: LineName
    polygon: Annotated[list[Annotated[list[float], msgspec.Meta(min_length=2, max_length=2)]],
                       msgspec.Meta(min_length=3)]
    kind: Literal["presence", "danger"] = "presence"


class EvidenceOption(msgspec.Struct, forbid_unknown_fields=True):
    """Opt-in, on-site only: short encrypted clips around safety events."""

    directory: str
    key_file: str
    pre_s: Annotated[float, msgspec.Meta(ge=0, le=30)] = 3.0
    post_s: Annotated[float, msgspec.Meta(ge=0, le=30)] = 3.0
    max_mb: Annotated[float, msgspec.Meta(gt=0, le=10000)] = 50.0
    retention_days: Annotated[float, msgspec.Meta(gt=0, le=90)] = 7.0


class Options(msgspec.Struct, forbid_unknown_fields=True):
    source: str
    model: str = "motion"
    people_model: str | None = None
    threads: Annotated[int, msgspec.Meta(ge=1, le=8)] = 2
    fps: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    lines: list[LineOption] = []
    zones: list[ZoneOption] = []
    motion_gate: bool = True
    crops: Literal["auto", "never"] = "auto"
    refresh_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    active_hold_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    loop: bool = False  # replay a file source forever (demo / simulated sites)
    realtime: bool = True  # pace file sources at their frame rate (False: as fast as possible, for tests)
    backoff_max_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    evidence: EvidenceOption | None = None


def _options(device: Device) -> Options:
    return msgspec.convert(device.options, Options, strict=True)


def check_device(device: Device, model: Model | None, bus: Bus | None) -> tuple[str, Message] | None:
    """Load-time checks the schema cannot express; names the key and what was expected."""
    try:
        opts = _options(device)
    except msgspec.ValidationError:
        return None  # the loader reports schema errors itself, with the key
    names = [ln.name for ln in opts.lines]
    if len(set(names)) != len(names):
        return "options.lines", Message(N_("unique line names"))
    for i, ln in enumerate(opts.lines):
        if ln.line[:2] == ln.line[2:]:
            return f"options.lines[{i}].line", Message(N_("two distinct end points [x1, y1, x2, y2]"))
    if any(z.kind == "danger" for z in opts.zones) and not (opts.people_model or opts.model == "person"):
        return "options.people_model", Message(N_("a people model (e.g. \"person\") when a danger zone is drawn"))
    from inference.declaration import resolve
    from inference.errors import ModelError

    for key in ("model", "people_model"):
        name = getattr(opts, key)
        if name is None or name == "motion":
            continue
        try:
            resolve(name)
        except ModelError as exc:
            return f"options.{key}", Message(N_("a shipped model name or a model declaration ({error})"),
                                             {"error": exc})
    return None


class CameraDriver(Driver):
    kind = "camera"

    def __init__(self, device: Device, model: Model | None, bus: Any | None, bus_cfg: Bus | None) -> None:
        super().__init__(device, model, bus, bus_cfg)
        self.options = _options(device)
        self.runner: Any = None

    @property
    def has_people(self) -> bool:
        return self.options.people_model is not None or self.options.model == "person"

    def points(self) -> list[PointSpec]:
        pts: list[PointSpec] = []
        for ln in self.options.lines:
            for d in ("in", "out"):
                pts.append(Point(name=f"{ln.name}_{d}", meaning=f"vision.units_{d}", unit="units",
                                    counter=True))
        if self.has_people:
            pts.append(Point(name="people_present", meaning="vision.people_present", unit="people"))
            pts.append(Point(name="safety_events", meaning="vision.safety_events", unit="events",
                                counter=True))
        pts.append(Point(name="line_active", meaning="vision.line_active", unit="bool", range=[0, 1]))
        pts.append(Point(name="camera_up", meaning="vision.camera_up", unit="bool", range=[0, 1]))
        return pts

    def _build(self) -> Any:
        from inference.pipeline import LineSpec, PipelineConfig, ZoneSpec
        from inference.runner import VisionRunner

        o = self.options
        cfg = PipelineConfig(
            model=o.model, people_model=o.people_model, threads=o.threads,
            lines=[LineSpec(ln.name, (ln.line[0], ln.line[1], ln.line[2], ln.line[3]),
                            frozenset(ln.labels) if ln.labels else None) for ln in o.lines],
            zones=[ZoneSpec(z.name, [(p[0], p[1]) for p in z.polygon], z.kind) for z in o.zones],
            motion_gate=o.motion_gate, crops=o.crops, refresh_s=o.refresh_s, active_hold_s=o.active_hold_s)
        evidence = None
        if o.evidence is not None:
            from inference.evidence import EvidenceConfig, EvidenceRing

            e = o.evidence
            evidence = EvidenceRing(EvidenceConfig(directory=e.directory, key_file=e.key_file, pre_s=e.pre_s,
                                                   post_s=e.post_s, max_mb=e.max_mb,
                                                   retention_days=e.retention_days))
        return VisionRunner(o.source, cfg, fps=o.fps, loop=o.loop, realtime=o.realtime,
                            backoff_max_s=o.backoff_max_s, evidence=evidence)

    async def open(self) -> None:
        if self.runner is not None and self.runner.running:
            return
        try:
            from inference.errors import VisionError
        except ImportError as exc:  # pragma: no cover - inference is part of this distribution
            raise DriverError("io", N_("vision support missing ({error})"), error=exc) from exc
        try:
            runner = self._build()
            await asyncio.to_thread(runner.start)
        except ImportError as exc:
            raise DriverError("io", N_("camera {name}: needs the Python package {name2}: pip install "
                                       "'edgeproof[vision]'"), name=self.device.name, name2=f'{exc.name!r}') from exc
        except (VisionError, OSError, ValueError) as exc:
            raise DriverError("io", N_("camera {name}: {error}"), name=self.device.name, error=exc) from exc
        self.runner = runner

    async def read(self) -> ReadResult:
        if self.runner is None:
            await self.open()
        snap = self.runner.snapshot()
        values: dict[str, float] = {}
        errors: dict[str, str] = {}
        for ln in self.options.lines:
            c = snap["lines"].get(ln.name, {"in": 0, "out": 0})
            values[f"{ln.name}_in"] = float(c["in"])
            values[f"{ln.name}_out"] = float(c["out"])
        up = bool(snap["camera_up"])
        values["camera_up"] = 1.0 if up else 0.0
        reason = f"camera down: {snap['last_error'] or 'not started'}"
        if self.has_people:
            values["safety_events"] = float(snap["safety_events"])
            if up and snap["people_present"] is not None:
                values["people_present"] = float(snap["people_present"])
            else:
                errors["people_present"] = reason
        if up:
            values["line_active"] = float(snap["line_active"])
        else:
            errors["line_active"] = reason
        return ReadResult(values=values, requests=1, errors=errors)

    async def close(self) -> None:
        if self.runner is not None:
            await asyncio.to_thread(self.runner.stop)
            self.runner = None


DRIVER = CameraDriver
