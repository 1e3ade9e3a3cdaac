#!/usr/bin/env python3
"""Train a small product detector on synthetic images and export it as a .tflite with its
declaration, ready to drop next to the shipped models (dev tool; never a gateway dependency).

    python -m venv /tmp/train && /tmp/train/bin/pip install torch==2.13.0 litert-torch \
        numpy opencv-python-headless
    /tmp/train/bin/python scripts/train_product_model.py --out /tmp/product  # ~90 s on 2 cores

Why synthetic: a site's products differ from any public data set, and frames never leave
the site. The generator here draws boxes/bags of random colours, sizes and label stripes on
textured backgrounds; for a real site, replace ``synth_batch`` with crops captured on site
(kept on site) pasted onto empty-belt frames, and keep everything else.

The model is anchor-based and emits raw tensors in the layout the ``mediapipe_anchors``
decoder already reads (regressors [1, N, 4] in input pixels relative to fixed-size anchor
centres on a stride-8 grid, and logits [1, N, 1]), so the gateway needs no new code: the
script writes ``product.tflite`` + ``product.toml`` (with its sha256) and checks the
exported file with the gateway's own runtime and decoder when that is importable.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

SIZE = 128
STRIDE = 8
GRID = SIZE // STRIDE


def synth_batch(rng: np.random.Generator, n: int, max_objects: int = 3) -> tuple[np.ndarray, list[list[tuple]]]:
    """n RGB images (uint8, SIZE x SIZE) and per image a list of (cx, cy, w, h) in 0..1."""
    import cv2

    imgs = np.empty((n, SIZE, SIZE, 3), np.uint8)
    boxes: list[list[tuple]] = []
    for i in range(n):
        noise = rng.integers(0, 255, (SIZE // 8, SIZE // 8, 3), dtype=np.uint8)
        bg = cv2.GaussianBlur(cv2.resize(noise, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC), (0, 0), 2)
        img = (bg.astype(np.float32) * rng.uniform(0.2, 0.6) + rng.uniform(30, 150)).clip(0, 255).astype(np.uint8)
        objs: list[tuple] = []
        for _ in range(rng.integers(0, max_objects + 1)):
            w, h = rng.uniform(0.15, 0.4, 2)
            cx, cy = rng.uniform(w / 2, 1 - w / 2), rng.uniform(h / 2, 1 - h / 2)
            if any(abs(cx - o[0]) < (w + o[2]) / 2 and abs(cy - o[1]) < (h + o[3]) / 2 for o in objs):
                continue  # no overlaps: products on a belt are apart
            x1, y1 = int((cx - w / 2) * SIZE), int((cy - h / 2) * SIZE)
            x2, y2 = int((cx + w / 2) * SIZE), int((cy + h / 2) * SIZE)
            colour = tuple(int(c) for c in rng.integers(0, 255, 3))
            img[y1:y2, x1:x2] = colour
            sy = y1 + (y2 - y1) // 3
            img[sy:sy + max(2, (y2 - y1) // 8), x1:x2] = 235
            cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), tuple(max(0, c - 60) for c in colour), 1)
            objs.append((cx, cy, w, h))
        imgs[i] = img
        boxes.append(objs)
    return imgs, boxes


def targets(boxes: list[list[tuple]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per anchor: objectness (1 where a box centre falls in the cell), regression targets in
    input pixels relative to the anchor centre (what the decoder undoes), and a mask."""
    n = len(boxes)
    obj = np.zeros((n, GRID * GRID, 1), np.float32)
    reg = np.zeros((n, GRID * GRID, 4), np.float32)
    for i, objs in enumerate(boxes):
        for cx, cy, w, h in objs:
            gx, gy = min(GRID - 1, int(cx * GRID)), min(GRID - 1, int(cy * GRID))
            k = gy * GRID + gx
            ax, ay = (gx + 0.5) / GRID, (gy + 0.5) / GRID
            obj[i, k, 0] = 1.0
            reg[i, k] = [(cx - ax) * SIZE, (cy - ay) * SIZE, w * SIZE, h * SIZE]
    return obj, reg, obj.copy()


def build_model():
    import torch
    from torch import nn

    def block(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    class ProductNet(nn.Module):
        """NHWC float input in [-1, 1] (the runtime feeds NHWC), stride-8 grid head."""

        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, 32, 1), block(32, 64, 2),
                                      block(64, 64, 1), block(64, 64, 1))
            self.head = nn.Conv2d(64, 5, 1)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            y = self.head(self.body(x.permute(0, 3, 1, 2)))  # [B, 5, G, G]
            y = y.permute(0, 2, 3, 1).reshape(x.shape[0], GRID * GRID, 5)  # row-major cells = anchor order
            return y[:, :, :4] * 16.0, y[:, :, 4:5]  # regressors scaled to pixels, logits

    return ProductNet()


def train(args: argparse.Namespace):
    import torch

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = build_model()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    bce = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([8.0]))
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        total = 0.0
        for _ in range(args.steps):
            imgs, boxes = synth_batch(rng, args.batch)
            obj, reg, mask = (torch.from_numpy(a) for a in targets(boxes))
            x = torch.from_numpy(imgs).float() / 127.5 - 1.0
            pr, pl = model(x)
            loss = bce(pl, obj) + (torch.abs(pr - reg) * mask).sum() / mask.sum().clamp(min=1) / SIZE * 10
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss)
        print(f"epoch {epoch + 1}/{args.epochs} loss {total / args.steps:.4f} ({time.time() - t0:.0f}s)")
    return model.eval()


def export(model, out: Path) -> Path:
    import torch

    try:
        import litert_torch as converter
    except ImportError:
        import ai_edge_torch as converter  # the package's former name
    out.mkdir(parents=True, exist_ok=True)
    path = out / "product.tflite"
    sample = (torch.zeros(1, SIZE, SIZE, 3),)
    converter.convert(model, sample).export(str(path))
    return path


DECLARATION = """# Trained by scripts/train_product_model.py on synthetic images ({note}).
name = "product"
file = "product.tflite"
sha256 = "{sha}"
labels = ["product"]
description = "Small product detector, {size}x{size} float32, stride-{stride} anchor grid"
license = "project-internal"

[input]
resize = "letterbox"
color = "rgb"
range = [-1.0, 1.0]

[decoder]
kind = "mediapipe_anchors"
strides = [{stride}]
anchors_per_cell = [1]
anchor_offset = 0.5
score_threshold = 0.5
nms_iou = 0.3
num_keypoints = 0
boxes_output = 0
scores_output = 1
"""


def check(decl: Path, rng: np.random.Generator, n: int = 200) -> None:
    """Recall/precision of the exported file through the gateway's own runtime and decoder."""
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    try:
        import cv2

        from inference.detector import Detector
        from inference.geometry import iou
    except ImportError as exc:
        print(f"(skipping the check through the gateway runtime: {exc})")
        return
    det = Detector(decl, threads=2)
    imgs, boxes = synth_batch(rng, n)
    tp = fp = fn = 0
    for img, objs in zip(imgs, boxes, strict=True):
        found = det.detect(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        truth = [((cx - w / 2) * SIZE, (cy - h / 2) * SIZE, (cx + w / 2) * SIZE, (cy + h / 2) * SIZE)
                 for cx, cy, w, h in objs]
        used: set[int] = set()
        for d in found:
            best = max(range(len(truth)), key=lambda j: iou(d.box, truth[j]), default=None)
            if best is not None and best not in used and iou(d.box, truth[best]) >= 0.5:
                used.add(best)
                tp += 1
            else:
                fp += 1
        fn += len(truth) - len(used)
    print(f"held-out synthetic images: recall {tp / max(1, tp + fn):.3f}, precision {tp / max(1, tp + fp):.3f} "
          f"({tp + fn} objects)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("product_model"))
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model = train(args)
    path = export(model, args.out)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    decl = args.out / "product.toml"
    note = f"{args.epochs} epochs x {args.steps} steps x {args.batch} images, seed {args.seed}"
    decl.write_text(DECLARATION.format(sha=sha, size=SIZE, stride=STRIDE, note=note))
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB) and {decl}")
    check(decl, np.random.default_rng(args.seed + 1000))


if __name__ == "__main__":
    main()
