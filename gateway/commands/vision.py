"""``edgeproof vision``: run the on-site models by hand (installers' checks and scripts).

Output is JSON on stdout so scripts can parse it; diagnostics go to stderr. Nothing
here sends anything anywhere: images are read from local paths or cameras, numbers
are printed.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from gateway.i18n import _, render


def _emit(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2))


def _missing(package: str | None) -> str:
    return _("vision support needs the Python package {package}: pip install 'edgeproof[vision]'").format(
        package=repr(package))


def _parse_line(text: str, i: int) -> tuple[str, tuple[float, float, float, float]]:
    name, sep, coords = text.partition("=")
    if not sep:
        name, coords = f"line{i + 1}" if i else "line", text
    try:
        vals = [float(v) for v in coords.split(",")]
    except ValueError:
        vals = []
    if len(vals) != 4:
        raise click.BadParameter(_("{value}: expected x1,y1,x2,y2 (or NAME=x1,y1,x2,y2)").format(value=repr(text)),
                                 param_hint="--line")
    if vals[:2] == vals[2:]:
        raise click.BadParameter(_("{value}: the two end points are the same").format(value=repr(text)),
                                 param_hint="--line")
    return name, (vals[0], vals[1], vals[2], vals[3])


@click.group("vision", help=_(
    "Detect and count with the cameras' models, locally (images never leave the site)."))
def vision() -> None:
    """Detect and count with the cameras' models, locally (images never leave the site)."""


@vision.command("models", help=_(
    "List the models shipped with the gateway (short names usable as --model)."))
def models_cmd() -> None:
    """List the models shipped with the gateway (short names usable as --model)."""
    from inference.declaration import load_declaration, shipped_models

    out = []
    for name, path in shipped_models().items():
        d = load_declaration(path)
        out.append({"name": name, "file": d.file.name, "labels": list(d.labels), "decoder": d.decoder["kind"],
                    "description": d.description, "license": d.license})
    out.append({"name": "motion", "file": None, "labels": ["object"], "decoder": "background subtraction",
                "description": "moving blobs, no model needed", "license": ""})
    _emit({"models": out})


@vision.command("detect", help=_(
    "Detect objects in IMAGE files; prints boxes in pixel coordinates."))
@click.option("--model", default="person", show_default=True,
              help=_("Shipped model name or a .toml declaration."))
@click.option("--threads", type=click.IntRange(1, 16), default=2, show_default=True)
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
def detect_cmd(model: str, threads: int, images: tuple[str, ...]) -> None:
    """Detect objects in IMAGE files; prints boxes in pixel coordinates."""
    try:
        import cv2

        from inference.detector import Detector
        from inference.errors import VisionError
    except ImportError as exc:
        raise click.ClickException(_missing(exc.name)) from exc
    try:
        det = Detector(model, threads=threads)
    except VisionError as exc:
        raise click.ClickException(render(exc)) from exc
    results = []
    failed = False
    for path in images:
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            failed = True
            results.append({"image": path, "error": "cannot read or decode image", "count": None,
                            "boxes": [], "scores": []})
            continue
        dets = det.detect(img)
        results.append({"image": path, "count": len(dets), "boxes": [d.rounded() for d in dets],
                        "scores": [round(d.score, 4) for d in dets]})
    _emit({"model": det.name, "images": results})
    if failed:
        sys.exit(2)


@vision.command("count", help=_(
    "Count objects crossing lines in a video/camera; prints JSON totals.\n"
    "\n"
    "Direction: with the line drawn from (x1,y1) to (x2,y2), crossing from its left-hand side (as you "
    "walk along it, image y down) to the right-hand side is \"in\"."))
@click.option("--model", default="motion", show_default=True,
              help=_("motion (no model), a shipped model name, or a .toml declaration."))
@click.option("--source", required=True, help=_("Video file, image folder, v4l2:0, rtsp://..., picamera:0."))
@click.option("--line", "lines", multiple=True, required=True,
              help=_("x1,y1,x2,y2 in pixels (or 0..1 fractions); NAME=x1,y1,x2,y2; repeatable."))
@click.option("--threads", type=click.IntRange(1, 16), default=2, show_default=True)
@click.option("--people-model", default=None, help=_("Also count people present with this model."))
@click.option("--no-gate", is_flag=True, help=_("Run the detector on every frame (no motion gate)."))
@click.option("--max-frames", type=click.IntRange(1), default=None,
              help=_("Stop after N frames (live sources)."))
@click.option("--seconds", type=float, default=None, help=_("Stop after this much wall time (live sources)."))
def count_cmd(model: str, source: str, lines: tuple[str, ...], threads: int, people_model: str | None,
              no_gate: bool, max_frames: int | None, seconds: float | None) -> None:
    """Count objects crossing lines in a video/camera; prints JSON totals.

    Direction: with the line drawn from (x1,y1) to (x2,y2), crossing from its left-hand
    side (as you walk along it, image y down) to the right-hand side is "in"."""
    try:
        from inference.errors import CorruptFrame, SourceError, VisionError
        from inference.pipeline import LineSpec, Pipeline, PipelineConfig
        from inference.sources import open_source, redact
    except ImportError as exc:
        raise click.ClickException(_missing(exc.name)) from exc
    specs = [LineSpec(*_parse_line(t, i)) for i, t in enumerate(lines)]
    if len({s.name for s in specs}) != len(specs):
        raise click.BadParameter(_("line names must be unique"), param_hint="--line")
    cfg = PipelineConfig(model=model, people_model=people_model, threads=threads, lines=specs,
                         motion_gate=not no_gate)
    try:
        pipe = Pipeline(cfg)
    except VisionError as exc:
        raise click.ClickException(render(exc)) from exc
    src = open_source(source)
    error = None
    t0 = time.perf_counter()
    try:
        src.open()
        while True:
            if max_frames is not None and pipe.stats.frames >= max_frames:
                break
            if seconds is not None and time.perf_counter() - t0 >= seconds:
                break
            try:
                frame = src.read()
            except CorruptFrame:
                pipe.stats.frames += 1
                pipe.stats.corrupt_frames += 1
                continue
            if frame is None:
                break
            pipe.process(frame.image, frame.ts)
    except SourceError as exc:
        error = render(exc)
    finally:
        src.close()
    elapsed = time.perf_counter() - t0
    snap = pipe.snapshot()
    out = {"in": snap["in"], "out": snap["out"], "frames": snap["frames"],
           "detector_runs": snap["detector_runs"], "model": model, "source": redact(source),
           "lines": snap["lines"],
           "corrupt_frames": snap["corrupt_frames"], "seconds": round(elapsed, 3),
           "fps": round(snap["frames"] / elapsed, 1) if elapsed > 0 else None}
    if people_model or model == "person":
        out["people_present"] = snap["people_present"]
    if error:
        out["error"] = error
    _emit(out)
    if error:
        sys.exit(1)


command = vision

if __name__ == "__main__":
    vision()
