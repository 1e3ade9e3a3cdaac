"""Input preparation for float and quantised models, and the mapping back to pixels."""

from __future__ import annotations

import numpy as np
import pytest

from inference.declaration import InputSpec
from inference.geometry import Detection
from inference.preprocess import as_bgr, prepare
from inference.runtime import TensorInfo


def _frame(h=100, w=200):
    f = np.zeros((h, w, 3), np.uint8)
    f[:, :, 2] = 255  # pure red in BGR
    return f


def test_float_letterbox_rgb_range():
    t = TensorInfo("in", 0, (1, 64, 64, 3), "float32", 0.0, 0)
    x, tf = prepare(_frame(), None, InputSpec("letterbox", "rgb", (-1.0, 1.0)), t)
    assert x.shape == (1, 64, 64, 3) and x.dtype == np.float32
    assert x[0, 32, 32].tolist() == pytest.approx([1.0, -1.0, -1.0])  # red first: RGB
    assert x[0, 2, 32].tolist() == pytest.approx([-1.0, -1.0, -1.0])  # top padding is black
    d = tf.detection(Detection((0.25, 0.25, 0.75, 0.75), 1.0))
    assert d.box == pytest.approx((50.0, 0.0, 150.0, 100.0))  # 200x200 square, image centred


def test_uint8_quantised_input():
    t = TensorInfo("in", 0, (1, 32, 32, 3), "uint8", 1 / 255, 0)
    x, _ = prepare(_frame(), None, InputSpec("stretch", "bgr", (0.0, 1.0)), t)
    assert x.dtype == np.uint8 and x[0, 16, 16].tolist() == [0, 0, 255]


def test_int8_quantised_input():
    t = TensorInfo("in", 0, (1, 32, 32, 3), "int8", 2 / 255, 0)
    x, _ = prepare(_frame(), None, InputSpec("stretch", "rgb", (-1.0, 1.0)), t)
    assert x.dtype == np.int8
    assert x[0, 16, 16].tolist() in ([127, -128, -128], [127, -127, -127])  # +-1.0 / (2/255) = +-127.5


def test_crop_region_maps_back():
    t = TensorInfo("in", 0, (1, 50, 50, 3), "float32", 0.0, 0)
    _, tf = prepare(_frame(), (100, 0, 200, 100), InputSpec("letterbox", "rgb", (0.0, 1.0)), t)
    assert tf.box((0.0, 0.0, 1.0, 1.0)) == pytest.approx((100.0, 0.0, 200.0, 100.0))


def test_grey_and_bgra_frames():
    assert as_bgr(np.zeros((4, 4), np.uint8)).shape == (4, 4, 3)
    assert as_bgr(np.zeros((4, 4, 4), np.uint8)).shape == (4, 4, 3)
