"""Shared fixtures: real photos that ship inside installed wheels (scikit-image,
matplotlib) and synthetic clips with known ground truth. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("ai_edge_litert")


def _rgb_to_bgr(im):
    import numpy as np

    if im.dtype != np.uint8:
        im = (im * 255).astype(np.uint8) if im.max() <= 1 else im.astype(np.uint8)
    return cv2.cvtColor(im, cv2.COLOR_RGB2BGR) if im.ndim == 3 else im


@pytest.fixture(scope="session")
def photos() -> dict:
    """name -> BGR (or grey) uint8 image, as OpenCV would deliver it."""
    skd = pytest.importorskip("skimage.data")
    out = {n: _rgb_to_bgr(getattr(skd, n)()) for n in
           ("astronaut", "camera", "coffee", "coins", "rocket", "chelsea", "horse")}
    cbook = pytest.importorskip("matplotlib.cbook")
    gh = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    assert gh is not None
    out["grace_hopper"] = gh
    return out


@pytest.fixture(scope="session")
def photo_files(photos, tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("photos")
    out = {}
    for name, im in photos.items():
        p = d / f"{name}.png"
        cv2.imwrite(str(p), im)
        out[name] = p
    return out


@pytest.fixture(scope="session")
def product_clip(tmp_path_factory):
    """Five products on a belt crossing x=320: 3 left-to-right (in), 2 right-to-left (out)."""
    from inference import synthetic as syn

    crossings = [syn.Crossing(5, 30, 100, "in", 0), syn.Crossing(45, 30, 250, "out", 1),
                 syn.Crossing(85, 25, 180, "in", 2), syn.Crossing(120, 35, 300, "in", 1),
                 syn.Crossing(165, 30, 60, "out", 2)]
    path = tmp_path_factory.mktemp("clips") / "products.avi"
    syn.write_video(path, syn.render(crossings, syn.product_sprites(), 220), fps=10)
    return path, syn.truth(crossings)


@pytest.fixture(scope="session")
def people_clip(tmp_path_factory, photos):
    """Real photos of people walking across x=320: 2 in, 1 out."""
    import skimage.data as skd

    from inference import synthetic as syn

    sprites = syn.person_sprites([skd.astronaut(), skd.camera()])
    crossings = [syn.Crossing(5, 40, 120, "in", 0), syn.Crossing(60, 40, 200, "out", 1),
                 syn.Crossing(115, 40, 150, "in", 1)]
    path = tmp_path_factory.mktemp("clips") / "people.avi"
    syn.write_video(path, syn.render(crossings, sprites, 170), fps=10)
    return path, syn.truth(crossings)


@pytest.fixture(scope="session")
def static_clip(tmp_path_factory) -> Path:
    """Ten seconds of an empty scene with sensor noise."""
    from inference import synthetic as syn

    path = tmp_path_factory.mktemp("clips") / "static.avi"
    syn.write_video(path, syn.render([], [], 100, noise=3.0), fps=10)
    return path
