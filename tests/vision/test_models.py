"""The shipped pretrained models on real photos with known answers."""

from __future__ import annotations

import shutil

import pytest

from inference.declaration import load_declaration, resolve, shipped_models
from inference.detector import Detector
from inference.errors import ModelError

PEOPLE = ("astronaut", "camera", "grace_hopper")
NOBODY = ("coffee", "coins", "rocket", "horse")


@pytest.fixture(scope="module")
def person():
    return Detector("person", threads=2)


@pytest.fixture(scope="module")
def face():
    return Detector("face", threads=2)


def test_shipped_models_by_short_name():
    assert {"person", "face", "face-short"} <= set(shipped_models())
    for name in ("person", "face", "face-short"):
        d = resolve(name)
        d.verify()
        assert d.sha256 and d.file.is_file()


def test_model_inspection(person):
    assert person.input_size == (224, 224)
    assert person.model.input.dtype == "float32"
    assert not person.model.input.quantized
    assert [o.shape for o in person.model.outputs] == [(1, 2254, 12), (1, 2254, 1)]
    assert person.model.runtime in ("ai_edge_litert", "tflite_runtime")


@pytest.mark.parametrize("name", PEOPLE)
def test_one_person_one_face(person, face, photos, name):
    img = photos[name]
    people = person.detect(img)
    faces = face.detect(img)
    assert len(people) == 1, [d.box for d in people]
    assert len(faces) == 1, [d.box for d in faces]
    h, w = img.shape[:2]
    fx1, fy1, fx2, fy2 = faces[0].box
    # The face lies inside the frame, in the upper part of the picture, and inside the person box.
    assert 0 <= fx1 < fx2 <= w and 0 <= fy1 < fy2 <= h
    assert (fy1 + fy2) / 2 < 0.6 * h
    px1, py1, px2, py2 = people[0].box
    cx, cy = faces[0].centre
    assert px1 <= cx <= px2 and py1 <= cy <= py2


@pytest.mark.parametrize("name", NOBODY + ("chelsea",))
def test_nobody(person, face, photos, name):
    assert person.detect(photos[name]) == []
    assert face.detect(photos[name]) == []


def test_face_short_range(photos):
    d = Detector("face-short", threads=1)
    assert len(d.detect(photos["astronaut"])) == 1
    assert d.detect(photos["coins"]) == []


def test_crop_detection_maps_to_frame_pixels(face, photos):
    img = photos["astronaut"]
    whole = face.detect(img)[0].box
    crop = face.detect(img, region=(100, 0, 400, 300))[0].box
    assert all(abs(a - b) < 12 for a, b in zip(whole, crop, strict=True))


def _copy_model(tmp_path, name="person"):
    src = resolve(name)
    shutil.copy(src.file, tmp_path / src.file.name)
    shutil.copy(src.declaration, tmp_path / f"{name}.toml")
    return tmp_path / src.file.name, tmp_path / f"{name}.toml"


def test_checksum_mismatch_names_the_file(tmp_path):
    model, decl = _copy_model(tmp_path)
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError) as exc:
        Detector(decl)
    assert str(model) in str(exc.value) and "sha256" in str(exc.value)


def test_corrupt_model_file_names_the_file(tmp_path):
    model, decl = _copy_model(tmp_path)
    model.write_bytes(b"this is not a flatbuffer" * 100)
    text = decl.read_text().splitlines()
    decl.write_text("\n".join(line for line in text if not line.startswith("sha256")))
    with pytest.raises(ModelError) as exc:
        Detector(decl)
    assert str(model) in str(exc.value) and "not a usable TFLite model" in str(exc.value)


def test_missing_and_undeclared_models(tmp_path):
    with pytest.raises(ModelError, match="unknown model"):
        resolve("no-such-model")
    lone = tmp_path / "lone.tflite"
    lone.write_bytes(b"x")
    with pytest.raises(ModelError, match="no declaration"):
        resolve(lone)
    model, decl = _copy_model(tmp_path)
    model.unlink()
    with pytest.raises(ModelError, match="model file not found"):
        Detector(decl)


def test_unreadable_model_file(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    model, decl = _copy_model(tmp_path)
    model.chmod(0)
    with pytest.raises(ModelError, match=str(model)):
        Detector(decl)


def test_wrong_anchor_layout_is_refused(tmp_path):
    model, decl = _copy_model(tmp_path)
    decl.write_text(decl.read_text().replace("anchors_per_cell = [2, 2, 6]", "anchors_per_cell = [2, 2, 2]"))
    with pytest.raises(ModelError, match="anchor layout"):
        Detector(decl)


def test_declaration_errors_name_the_key(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('name = "x"\nfile = "x.tflite"\n[decoder]\nkind = "yolo"\n[input]\nresize = "crop"\n')
    with pytest.raises(ModelError, match="input.resize"):
        load_declaration(p)
    p.write_text('name = "x"\nfile = "x.tflite"\n')
    with pytest.raises(ModelError, match="decoder"):
        load_declaration(p)
    p.write_text('name = "x" file')
    with pytest.raises(ModelError, match="invalid TOML"):
        load_declaration(p)


def test_threads_setting(photos):
    one = Detector("face", threads=1)
    assert one.model.threads == 1
    assert len(one.detect(photos["grace_hopper"])) == 1
