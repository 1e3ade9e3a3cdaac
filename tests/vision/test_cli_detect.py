"""``edgeproof vision detect`` / ``models``: the JSON contract installers' scripts parse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from gateway.commands.vision import command as vision_cli

ROOT = Path(__file__).resolve().parents[2]


def test_detect_json(photo_files):
    files = [str(photo_files[n]) for n in ("astronaut", "coffee", "grace_hopper")]
    res = CliRunner().invoke(vision_cli, ["detect", "--model", "face", *files])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["model"] == "face"
    assert [i["count"] for i in out["images"]] == [1, 0, 1]
    first = out["images"][0]
    assert first["image"] == files[0]
    assert len(first["boxes"]) == 1 and len(first["boxes"][0]) == 4
    x1, y1, x2, y2 = first["boxes"][0]
    assert 0 <= x1 < x2 <= 512 and 0 <= y1 < y2 <= 512  # pixel coordinates of the 512x512 photo
    assert 0.5 < first["scores"][0] <= 1


def test_detect_person_default_and_bad_image(photo_files, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    res = CliRunner().invoke(vision_cli, ["detect", str(photo_files["camera"]), str(bad), "--threads", "1"])
    assert res.exit_code == 2
    out = json.loads(res.stdout)
    assert out["model"] == "person"
    assert out["images"][0]["count"] == 1
    assert out["images"][1]["count"] is None and "cannot read" in out["images"][1]["error"]


def test_detect_corrupt_model_names_the_file(photo_files, tmp_path):
    (tmp_path / "m.tflite").write_bytes(b"\x00" * 64)
    (tmp_path / "m.toml").write_text('name = "m"\nfile = "m.tflite"\n[decoder]\nkind = "ssd"\n')
    res = CliRunner().invoke(vision_cli, ["detect", "--model", str(tmp_path / "m.toml"),
                                          str(photo_files["camera"])])
    assert res.exit_code == 1
    assert str(tmp_path / "m.tflite") in res.output


def test_models_list():
    res = CliRunner().invoke(vision_cli, ["models"])
    names = [m["name"] for m in json.loads(res.stdout)["models"]]
    assert {"person", "face", "face-short", "motion"} <= set(names)


def test_module_entry_point(photo_files):
    """``python -m gateway.commands.vision`` works before the gateway CLI lists the group."""
    proc = subprocess.run([sys.executable, "-m", "gateway.commands.vision", "detect", "--model", "face-short",
                           str(photo_files["astronaut"])], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["images"][0]["count"] == 1
