"""Anchor-based raw outputs as MediaPipe's BlazeFace/BlazePose detectors produce them.

The model outputs, per anchor, a regressor row ``[dx, dy, w, h, kx0, ky0, ...]`` (in
input pixels) and one logit. Anchors are the centres of a stride grid with a fixed
size of 1 (MediaPipe's ``fixed_anchor_size``), so decoding is::

    cx = dx / input_w + anchor_x      w = w / input_w      score = sigmoid(logit)

Declaration keys (``[decoder]``)::

    kind = "mediapipe_anchors"
    strides = [8, 16, 32]           # one per anchor layer
    anchors_per_cell = [2, 2, 6]    # anchors per grid cell, per layer
    anchor_offset = 0.5
    score_threshold = 0.5
    nms_iou = 0.3
    num_keypoints = 4
    boxes_output = 0                # output index or tensor name; scores_output likewise
    scores_output = 1
    box_from_keypoints = [0, 1]     # optional: box = circle centred on kp0 through kp1
    keypoint_box_scale = 1.0        #   (BlazePose: hips centre, full-body radius)
    max_detections = 100

Anchor counts are checked against the model's output shape at load, so a wrong
layout in a declaration fails loudly instead of producing shifted boxes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inference.declaration import ModelDeclaration
from inference.decoders import check_keys, output_index
from inference.errors import N_, ModelError
from inference.geometry import Detection, nms
from inference.runtime import TensorInfo

ALLOWED = {"strides", "anchors_per_cell", "anchor_offset", "score_threshold", "nms_iou", "num_keypoints",
           "boxes_output", "scores_output", "box_from_keypoints", "keypoint_box_scale", "max_detections"}


def make_anchors(input_w: int, input_h: int, strides: list[int], per_cell: list[int],
                 offset: float = 0.5) -> np.ndarray:
    """(N, 2) anchor centres in normalised input coordinates, MediaPipe's order:
    layer by layer, row-major over the grid, ``per_cell`` anchors per cell."""
    rows = []
    for stride, n in zip(strides, per_cell, strict=True):
        fh = -(-input_h // stride)
        fw = -(-input_w // stride)
        ys, xs = np.meshgrid((np.arange(fh) + offset) / fh, (np.arange(fw) + offset) / fw, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        rows.append(np.repeat(centres, n, axis=0))
    return np.concatenate(rows, axis=0).astype(np.float32)


class Decoder:
    def __init__(self, decl: ModelDeclaration, input_size: tuple[int, int],
                 outputs: list[TensorInfo]) -> None:
        cfg = decl.decoder
        check_keys(decl, ALLOWED)
        for key in ("strides", "anchors_per_cell"):
            if not (isinstance(cfg.get(key), list) and cfg[key]):
                raise ModelError(decl.declaration, N_("decoder.{key} must be a non-empty list of integers"), key=key)
        if len(cfg["strides"]) != len(cfg["anchors_per_cell"]):
            raise ModelError(decl.declaration, N_("decoder.strides and decoder.anchors_per_cell differ in length"))
        self.w, self.h = input_size
        self.anchors = make_anchors(self.w, self.h, cfg["strides"], cfg["anchors_per_cell"],
                                    float(cfg.get("anchor_offset", 0.5)))
        self.boxes_i = output_index(decl, outputs, "boxes_output", 0)
        self.scores_i = output_index(decl, outputs, "scores_output", 1)
        n = self.anchors.shape[0]
        bshape = outputs[self.boxes_i].shape
        if len(bshape) != 3 or bshape[1] != n or bshape[2] < 4:
            raise ModelError(decl.declaration, N_("anchor layout gives {n} anchors but output {name} has shape "
                                                  "{bshape}"),
                                               n=n, name=outputs[self.boxes_i].name, bshape=list(bshape))
        self.num_keypoints = int(cfg.get("num_keypoints", (bshape[2] - 4) // 2))
        self.threshold = float(cfg.get("score_threshold", 0.5))
        self.nms_iou = float(cfg.get("nms_iou", 0.3))
        self.max_det = int(cfg.get("max_detections", 100))
        kb = cfg.get("box_from_keypoints")
        if kb is not None and not (isinstance(kb, list) and len(kb) == 2
                                   and all(0 <= int(k) < self.num_keypoints for k in kb)):
            raise ModelError(decl.declaration, N_("decoder.box_from_keypoints must be [centre_kp, edge_kp] with "
                                                  "keypoints below {num_keypoints}"), num_keypoints=self.num_keypoints)
        self.kp_box = (int(kb[0]), int(kb[1])) if kb else None
        self.kp_scale = float(cfg.get("keypoint_box_scale", 1.0))
        self.label = decl.labels[0] if decl.labels else "object"

    def decode(self, outputs: list[Any]) -> list[Detection]:
        raw = outputs[self.boxes_i].reshape(-1, outputs[self.boxes_i].shape[-1])
        logits = outputs[self.scores_i].reshape(-1)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
        idx = np.flatnonzero(scores >= self.threshold)
        if idx.size == 0:
            return []
        if idx.size > 4 * self.max_det:
            idx = idx[np.argsort(-scores[idx])[: 4 * self.max_det]]
        r = raw[idx]
        a = self.anchors[idx]
        cx = r[:, 0] / self.w + a[:, 0]
        cy = r[:, 1] / self.h + a[:, 1]
        bw = r[:, 2] / self.w
        bh = r[:, 3] / self.h
        kps = []
        for k in range(self.num_keypoints):
            kx = r[:, 4 + 2 * k] / self.w + a[:, 0]
            ky = r[:, 5 + 2 * k] / self.h + a[:, 1]
            kps.append((kx, ky))
        if self.kp_box is not None:
            c, e = self.kp_box
            rad = np.hypot(kps[e][0] - kps[c][0], kps[e][1] - kps[c][1]) * self.kp_scale
            cx, cy, bw, bh = kps[c][0], kps[c][1], 2 * rad, 2 * rad
        dets = []
        for j in range(idx.size):
            box = (float(cx[j] - bw[j] / 2), float(cy[j] - bh[j] / 2),
                   float(cx[j] + bw[j] / 2), float(cy[j] + bh[j] / 2))
            dets.append(Detection(box=box, score=float(scores[idx[j]]), label=self.label,
                                  keypoints=[(float(kx[j]), float(ky[j])) for kx, ky in kps]))
        return nms(dets, self.nms_iou)[: self.max_det]
