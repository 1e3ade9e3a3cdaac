"""Decoders on known output tensors: what a post-processed SSD model returns, and the
MediaPipe anchor grid against the published anchor counts."""

from __future__ import annotations

import numpy as np
import pytest

from inference.declaration import load_declaration
from inference.decoders import make_decoder
from inference.decoders.mediapipe_anchors import make_anchors
from inference.errors import ModelError
from inference.runtime import TensorInfo

SSD_OUTPUTS = [TensorInfo("boxes", 0, (1, 10, 4), "float32", 0.0, 0),
               TensorInfo("classes", 1, (1, 10), "float32", 0.0, 0),
               TensorInfo("scores", 2, (1, 10), "float32", 0.0, 0),
               TensorInfo("count", 3, (1,), "float32", 0.0, 0)]


def _decl(tmp_path, decoder: str, labels='["person", "bicycle", "car"]'):
    p = tmp_path / "m.toml"
    p.write_text(f'name = "m"\nfile = "m.tflite"\nlabels = {labels}\n[decoder]\n{decoder}\n')
    return load_declaration(p)


def test_ssd_postprocessed(tmp_path):
    decl = _decl(tmp_path, 'kind = "ssd"\nscore_threshold = 0.5\nkeep_labels = ["person", "car"]')
    dec = make_decoder(decl, (300, 300), SSD_OUTPUTS)
    boxes = np.zeros((1, 10, 4), np.float32)
    boxes[0, 0] = [0.1, 0.2, 0.5, 0.6]  # ymin, xmin, ymax, xmax
    boxes[0, 1] = [0.0, 0.0, 1.0, 1.0]
    boxes[0, 2] = [0.3, 0.3, 0.4, 0.4]
    boxes[0, 3] = [0.5, 0.5, 0.9, 0.9]  # beyond count: ignored
    classes = np.array([[0, 1, 2, 0, 0, 0, 0, 0, 0, 0]], np.float32)
    scores = np.array([[0.9, 0.8, 0.4, 0.99, 0, 0, 0, 0, 0, 0]], np.float32)
    dets = dec.decode([boxes, classes, scores, np.array([3], np.float32)])
    # bicycle dropped by keep_labels, the car by its score, row 3 by count
    assert len(dets) == 1
    assert dets[0].label == "person"
    assert dets[0].box == pytest.approx((0.2, 0.1, 0.6, 0.5))


def test_ssd_outputs_by_name_and_label_offset(tmp_path):
    decl = _decl(tmp_path, 'kind = "ssd"\nboxes_output = "boxes"\nscores_output = "scores"\n'
                           'classes_output = "classes"\ncount_output = "count"\nlabel_offset = 1')
    dec = make_decoder(decl, (300, 300), SSD_OUTPUTS)
    boxes = np.zeros((1, 10, 4), np.float32)
    boxes[0, 0] = [0.1, 0.1, 0.2, 0.2]
    dets = dec.decode([boxes, np.zeros((1, 10), np.float32), np.full((1, 10), 0.7, np.float32),
                       np.array([1], np.float32)])
    assert [d.label for d in dets] == ["bicycle"]


def test_ssd_unknown_output_name(tmp_path):
    decl = _decl(tmp_path, 'kind = "ssd"\nboxes_output = "nope"')
    with pytest.raises(ModelError, match="no output of that name"):
        make_decoder(decl, (300, 300), SSD_OUTPUTS)


def test_unknown_decoder_key(tmp_path):
    decl = _decl(tmp_path, 'kind = "ssd"\nscore_treshold = 0.5')
    with pytest.raises(ModelError, match="score_treshold"):
        make_decoder(decl, (300, 300), SSD_OUTPUTS)


@pytest.mark.parametrize(("size", "strides", "per_cell", "n"), [
    (128, [8, 16], [2, 6], 896), (192, [4], [1], 2304), (224, [8, 16, 32], [2, 2, 6], 2254)])
def test_mediapipe_anchor_counts(size, strides, per_cell, n):
    a = make_anchors(size, size, strides, per_cell)
    assert a.shape == (n, 2)
    assert a.min() > 0 and a.max() < 1
    # first anchor is the centre of the top-left cell of the first layer
    assert a[0] == pytest.approx((0.5 * strides[0] / size, 0.5 * strides[0] / size))


def test_mediapipe_decode_one_anchor(tmp_path):
    decl = _decl(tmp_path, 'kind = "mediapipe_anchors"\nstrides = [8, 16]\nanchors_per_cell = [2, 6]\n'
                           'num_keypoints = 6\nscore_threshold = 0.5', labels='["face"]')
    outs = [TensorInfo("regressors", 0, (1, 896, 16), "float32", 0.0, 0),
            TensorInfo("classificators", 1, (1, 896, 1), "float32", 0.0, 0)]
    dec = make_decoder(decl, (128, 128), outs)
    raw = np.zeros((1, 896, 16), np.float32)
    logits = np.full((1, 896, 1), -10.0, np.float32)
    k = 2 * (16 * 3 + 5)  # row 3, column 5 of the 16x16 layer, first anchor
    raw[0, k, :4] = [6.4, -12.8, 25.6, 12.8]  # dx, dy, w, h in input pixels
    logits[0, k, 0] = 3.0
    dets = dec.decode([raw, logits])
    assert len(dets) == 1
    cx, cy = (5.5 / 16) + 0.05, (3.5 / 16) - 0.1
    assert dets[0].box == pytest.approx((cx - 0.1, cy - 0.05, cx + 0.1, cy + 0.05), abs=1e-5)
    assert dets[0].score == pytest.approx(1 / (1 + np.exp(-3.0)), abs=1e-5)
