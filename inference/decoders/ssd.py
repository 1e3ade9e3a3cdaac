"""Standard post-processed SSD outputs (TFLite_Detection_PostProcess): boxes, classes,
scores, count — what TF Object Detection API / Model Maker / most Coral models export.

Declaration keys (``[decoder]``)::

    kind = "ssd"
    boxes_output = 0        # index or tensor name; [1, N, 4] normalised
    classes_output = 1      # [1, N] class index
    scores_output = 2       # [1, N] score 0..1
    count_output = 3        # [1] number of valid rows
    box_order = "yxyx"      # TFLite's order (ymin, xmin, ymax, xmax); or "xyxy"
    label_offset = 0        # add to a class index before looking it up in ``labels``
    keep_labels = ["person"]# optional: drop every other class
    score_threshold = 0.5
    nms_iou = 0.0           # the model already ran NMS; >0 runs it again across classes

The output order differs between exporters (TF1 vs TF2), hence explicit indices.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inference.declaration import ModelDeclaration
from inference.decoders import check_keys, output_index
from inference.errors import N_, ModelError
from inference.geometry import Detection, nms
from inference.runtime import TensorInfo

ALLOWED = {"boxes_output", "classes_output", "scores_output", "count_output", "box_order", "label_offset",
           "keep_labels", "score_threshold", "nms_iou"}


class Decoder:
    def __init__(self, decl: ModelDeclaration, input_size: tuple[int, int],
                 outputs: list[TensorInfo]) -> None:
        check_keys(decl, ALLOWED)
        cfg = decl.decoder
        self.boxes_i = output_index(decl, outputs, "boxes_output", 0)
        self.classes_i = output_index(decl, outputs, "classes_output", 1)
        self.scores_i = output_index(decl, outputs, "scores_output", 2)
        self.count_i = output_index(decl, outputs, "count_output", 3) if len(outputs) > 3 else None
        self.order = cfg.get("box_order", "yxyx")
        if self.order not in ("yxyx", "xyxy"):
            raise ModelError(decl.declaration, N_("decoder.box_order must be yxyx or xyxy, found {order}"),
                                               order=f'{self.order!r}')
        self.offset = int(cfg.get("label_offset", 0))
        self.labels = decl.labels
        keep = cfg.get("keep_labels")
        self.keep = set(keep) if keep else None
        self.threshold = float(cfg.get("score_threshold", 0.5))
        self.nms_iou = float(cfg.get("nms_iou", 0.0))

    def label_of(self, cls: float) -> str:
        i = int(round(cls)) + self.offset
        return self.labels[i] if 0 <= i < len(self.labels) else f"class_{i}"

    def decode(self, outputs: list[Any]) -> list[Detection]:
        boxes = outputs[self.boxes_i].reshape(-1, 4)
        classes = outputs[self.classes_i].reshape(-1)
        scores = outputs[self.scores_i].reshape(-1)
        n = boxes.shape[0]
        if self.count_i is not None:
            n = min(n, int(np.asarray(outputs[self.count_i]).reshape(-1)[0]))
        dets = []
        for j in range(n):
            if scores[j] < self.threshold:
                continue
            label = self.label_of(classes[j])
            if self.keep is not None and label not in self.keep:
                continue
            a, b, c, d = (float(v) for v in boxes[j])
            box = (b, a, d, c) if self.order == "yxyx" else (a, b, c, d)
            dets.append(Detection(box=box, score=float(scores[j]), label=label))
        if self.nms_iou > 0:
            dets = nms(dets, self.nms_iou, per_label=False)
        return dets
