"""End-to-end counting on generated clips with known ground truth, the motion gate,
and faults: corrupt frames, a source that vanishes mid-stream, a missing source."""

from __future__ import annotations

import json
import shutil
import time

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from gateway.commands.vision import command as vision_cli
from inference.errors import SourceError
from inference.pipeline import LineSpec, Pipeline, PipelineConfig
from inference.runner import VisionRunner
from inference.sources import open_source, redact

LINE = LineSpec("belt", (320, 0, 320, 480))


def run_clip(path, model, **kw):
    pipe = Pipeline(PipelineConfig(model=model, lines=[LINE], **kw))
    src = open_source(str(path))
    src.open()
    while (f := src.read()) is not None:
        pipe.process(f.image, f.ts)
    src.close()
    return pipe.snapshot()


def test_motion_counts_products_exactly(product_clip):
    path, truth = product_clip
    snap = run_clip(path, "motion")
    assert (snap["in"], snap["out"]) == (truth["in"], truth["out"]) == (3, 2)
    assert snap["frames"] == 220


def test_person_model_counts_people_exactly(people_clip):
    path, truth = people_clip
    snap = run_clip(path, "person")
    assert (snap["in"], snap["out"]) == (truth["in"], truth["out"]) == (2, 1)
    assert snap["detector_runs"] < snap["frames"]


def test_static_scene_costs_almost_no_detector_runs(static_clip):
    gated = run_clip(static_clip, "person")
    assert gated["frames"] == 100
    assert gated["detector_runs"] <= 5  # the first frame and one refresh every 3 s of media time
    ungated = run_clip(static_clip, "person", motion_gate=False)
    assert ungated["detector_runs"] == 100
    assert gated["in"] == gated["out"] == ungated["in"] == ungated["out"] == 0


def test_cli_count_motion_and_person(product_clip, people_clip):
    runner = CliRunner()
    res = runner.invoke(vision_cli, ["count", "--model", "motion", "--source", str(product_clip[0]),
                                     "--line", "320,0,320,480"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["in"], out["out"], out["frames"]) == (3, 2, 220)
    assert 0 < out["detector_runs"] <= 220
    res = runner.invoke(vision_cli, ["count", "--model", "person", "--source", str(people_clip[0]),
                                     "--line", "door=0.5,0,0.5,1", "--threads", "1"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["in"], out["out"]) == (2, 1)
    assert out["lines"] == {"door": {"in": 2, "out": 1}}


def test_cli_count_reversed_line_swaps(product_clip):
    res = CliRunner().invoke(vision_cli, ["count", "--source", str(product_clip[0]),
                                          "--line", "320,480,320,0"])
    out = json.loads(res.stdout)
    assert (out["in"], out["out"]) == (2, 3)


def test_cli_count_bad_line_and_missing_source(tmp_path):
    res = CliRunner().invoke(vision_cli, ["count", "--source", "x.avi", "--line", "1,2,3"])
    assert res.exit_code == 2 and "x1,y1,x2,y2" in res.output
    missing = tmp_path / "nope.avi"
    res = CliRunner().invoke(vision_cli, ["count", "--source", str(missing), "--line", "0,0,1,1"])
    assert res.exit_code == 1
    assert str(missing) in json.loads(res.stdout)["error"]


@pytest.fixture()
def frame_folder(tmp_path, product_clip):
    """The product clip as JPEG frames, with frame 100 replaced by garbage bytes."""
    d = tmp_path / "frames"
    d.mkdir()
    cap = cv2.VideoCapture(str(product_clip[0]))
    i = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        cv2.imwrite(str(d / f"f{i:04d}.jpg"), img)
        i += 1
    cap.release()
    (d / "f0100.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated garbage")
    return d


def test_corrupt_frame_is_skipped_and_counted(frame_folder):
    res = CliRunner().invoke(vision_cli, ["count", "--source", str(frame_folder), "--line", "320,0,320,480"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["corrupt_frames"] == 1 and out["frames"] == 220
    assert (out["in"], out["out"]) == (3, 2)


def test_pipeline_survives_garbage_arrays():
    pipe = Pipeline(PipelineConfig(model="motion", lines=[LINE]))
    for bad in (np.zeros((0, 0, 3), np.uint8), np.zeros((10, 10, 3), np.float32), None, "x"):
        pipe.process(bad, 0.0)
    pipe.process(np.zeros((48, 64, 3), np.uint8), 0.1)
    snap = pipe.snapshot()
    assert snap["corrupt_frames"] == 4 and snap["frames"] == 5


def _wait(pred, timeout=10.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_camera_that_vanishes_is_reported_retried_and_recovers(frame_folder, tmp_path):
    cam = tmp_path / "cam"
    shutil.copytree(frame_folder, cam)
    runner = VisionRunner(str(cam), PipelineConfig(model="motion", lines=[LINE]), fps=40, realtime=True,
                          loop=True, backoff_initial_s=0.05, backoff_max_s=0.2)
    runner.start()
    try:
        assert _wait(lambda: runner.snapshot()["camera_up"] == 1)
        assert _wait(lambda: runner.snapshot()["frames"] > 20)
        shutil.rmtree(cam)  # the camera's folder disappears mid-stream
        assert _wait(lambda: runner.snapshot()["camera_up"] == 0)
        snap = runner.snapshot()
        assert str(cam) in snap["last_error"]
        assert runner.running  # the thread keeps retrying, nothing crashed
        assert _wait(lambda: runner.snapshot()["reconnects"] >= 2)
        shutil.copytree(frame_folder, cam)  # it comes back
        assert _wait(lambda: runner.snapshot()["camera_up"] == 1)
        frames_before = runner.snapshot()["frames"]
        assert _wait(lambda: runner.snapshot()["frames"] > frames_before + 10)
    finally:
        runner.stop()
    assert not runner.running


def test_video_file_deleted_mid_stream(product_clip, tmp_path):
    clip = tmp_path / "live.avi"
    shutil.copy(product_clip[0], clip)
    runner = VisionRunner(str(clip), PipelineConfig(model="motion", lines=[LINE]), fps=100, realtime=True,
                          loop=True, backoff_initial_s=0.05, backoff_max_s=0.1)
    runner.start()
    try:
        assert _wait(lambda: runner.snapshot()["frames"] > 5)
        clip.unlink()
        assert _wait(lambda: runner.snapshot()["camera_up"] == 0 and runner.snapshot()["failures"] >= 1)
        assert str(clip) in runner.snapshot()["last_error"]
        assert runner.running
    finally:
        runner.stop()


def test_runner_counts_a_file_to_the_end(product_clip):
    runner = VisionRunner(str(product_clip[0]), PipelineConfig(model="motion", lines=[LINE]), realtime=False)
    runner.start()
    assert runner.wait_finished(30)
    snap = runner.snapshot()
    assert (snap["in"], snap["out"], snap["finished"], snap["camera_up"]) == (3, 2, True, 0)


def test_source_uris():
    assert open_source("picamera:0").__class__.__name__ == "PiCameraSource"
    assert open_source("0").__class__.__name__ == "OpenCVSource" and open_source("0").live
    assert open_source("v4l2:1").target == 1
    assert open_source("rtsp://u:p@10.0.0.1/s").live
    assert redact("rtsp://admin:secret@10.0.0.1:554/s") == "rtsp://***@10.0.0.1:554/s"
    with pytest.raises(SourceError, match="picamera2 is not available"):
        open_source("picamera:0").open()
    with pytest.raises(SourceError, match="no such"):
        open_source("/nonexistent/dir/").open()


def test_safety_event_person_in_danger_zone_while_line_active(people_clip, tmp_path):
    """People walk through a danger zone (right half) while the line is active: events are
    counted once per entry, and the opt-in evidence ring keeps an encrypted clip."""
    from inference.evidence import EvidenceConfig, EvidenceRing, read_clip
    from inference.pipeline import ZoneSpec

    cfg = PipelineConfig(model="person", lines=[LINE], active_hold_s=60,
                         zones=[ZoneSpec("press", [(0.5, 0), (1, 0), (1, 1), (0.5, 1)], "danger")])
    ev = EvidenceRing(EvidenceConfig(directory=str(tmp_path / "ev"), key_file=str(tmp_path / "ev.key"),
                                     pre_s=1, post_s=1))
    runner = VisionRunner(str(people_clip[0]), cfg, realtime=False, evidence=ev)
    runner.start()
    assert runner.wait_finished(60)
    snap = runner.snapshot()
    assert (snap["in"], snap["out"]) == (2, 1)
    assert snap["safety_events"] == 3
    clips = list((tmp_path / "ev").glob("clip-*.bin"))
    assert clips and ev.clips_written == len(clips)
    header, jpegs = read_clip(clips[0], tmp_path / "ev.key")
    assert header["events"] >= 1 and jpegs


def test_no_safety_event_while_line_idle(people_clip):
    from inference.pipeline import ZoneSpec

    cfg = PipelineConfig(model="person", lines=[LineSpec("far", (10, 10, 20, 10))],
                         zones=[ZoneSpec("press", [(0.5, 0), (1, 0), (1, 1), (0.5, 1)], "danger")])
    pipe = Pipeline(cfg)
    src = open_source(str(people_clip[0]))
    src.open()
    peak = 0
    while (f := src.read()) is not None:
        pipe.process(f.image, f.ts)
        peak = max(peak, pipe.people_now)
    snap = pipe.snapshot()
    assert snap["safety_events"] == 0 and snap["line_active"] == 0
    assert peak == 1  # one person in view at a time in this clip


def test_small_people_are_found_in_motion_crops():
    """130 px people in a 1280x960 frame: squeezed into the 224 px model input they vanish;
    detecting on crops around the motion finds and counts them."""
    import skimage.data as skd

    from inference import synthetic as syn

    sprites = syn.person_sprites([skd.astronaut(), skd.camera()], size=130)
    crossings = [syn.Crossing(3, 40, 300, "in", 0), syn.Crossing(50, 40, 600, "out", 1)]
    frames = list(syn.render(crossings, sprites, 165, width=1280, height=960, noise=0))
    results = {}
    for crops in ("auto", "never"):
        pipe = Pipeline(PipelineConfig(model="person", lines=[LineSpec("l", (640, 0, 640, 960))], crops=crops))
        for i, f in enumerate(frames):
            pipe.process(f, i / 10)
        results[crops] = pipe.snapshot()
    assert (results["auto"]["in"], results["auto"]["out"]) == (1, 1)
    assert results["auto"]["crop_runs"] > 0
    assert results["never"]["in"] + results["never"]["out"] < 2
    assert results["auto"]["people_present"] == 0  # both left: gone after two still refreshes


def test_a_model_of_our_own_is_a_file_plus_a_declaration(product_clip):
    """tests/vision/data/product.tflite was trained by scripts/train_product_model.py on
    synthetic images only; dropped in with its TOML it counts the product clip exactly."""
    from pathlib import Path

    decl = Path(__file__).parent / "data" / "product.toml"
    snap = run_clip(product_clip[0], str(decl))
    assert (snap["in"], snap["out"]) == (3, 2)


def test_network_stream_disconnect_and_reconnect(product_clip):
    """A live stream (HTTP on 127.0.0.1, through OpenCV's FFMPEG backend) that ends is a
    disconnect: reported with the URL, retried with backoff, and counting resumes."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(product_clip[0].parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{product_clip[0].name}"
    runner = VisionRunner(url, PipelineConfig(model="motion", lines=[LINE]), fps=1000,
                          backoff_initial_s=1.5, backoff_max_s=1.5)
    try:
        runner.start()
        assert _wait(lambda: runner.snapshot()["failures"] >= 1, timeout=30)
        snap = runner.snapshot()
        assert snap["camera_up"] == 0 and url in snap["last_error"] and "disconnected" in snap["last_error"]
        assert (snap["in"], snap["out"], snap["frames"]) == (3, 2, 220)
        assert _wait(lambda: runner.snapshot()["camera_up"] == 1, timeout=10)  # reconnected
        assert runner.snapshot()["reconnects"] >= 1
    finally:
        runner.stop()
        server.shutdown()


def test_face_model_as_people_model(people_clip):
    """Presence can come from the face model: its detections ("face") are the people."""
    pipe = Pipeline(PipelineConfig(model="motion", people_model="face", lines=[LINE]))
    src = open_source(str(people_clip[0]))
    src.open()
    peak = 0
    while (f := src.read()) is not None:
        pipe.process(f.image, f.ts)
        peak = max(peak, pipe.people_now)
    assert peak == 1
    assert (pipe.snapshot()["in"], pipe.snapshot()["out"]) == (2, 1)
