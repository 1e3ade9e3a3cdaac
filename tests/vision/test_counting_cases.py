"""The counts the rules rely on (issue 11): an object made of parts with gaps between them
counts once, two objects touching count twice, an object that approaches the line and backs
off counts zero. Generated clips (inference.synthetic.counting_case) through the real
pipeline (motion blobs -> tracker -> line counter); nothing is downloaded."""

from __future__ import annotations

import pytest

from inference import synthetic as syn
from inference.counters import LineCounter
from inference.geometry import Detection
from inference.pipeline import LineSpec, Pipeline, PipelineConfig
from inference.sources import open_source
from inference.tracker import Tracker

LINE = LineSpec("belt", (320, 0, 320, 480))


def counted(tmp_path, case: str, seed: int) -> tuple[dict, dict]:
    crossings, sprites, n, want = syn.counting_case(case, seed)
    path = syn.write_video(tmp_path / f"{case}{seed}.avi", syn.render(crossings, sprites, n, seed=seed), fps=10)
    pipe = Pipeline(PipelineConfig(model="motion", lines=[LINE]))
    src = open_source(str(path))
    src.open()
    while (f := src.read()) is not None:
        pipe.process(f.image, f.ts)
    src.close()
    snap = pipe.snapshot()
    return {"in": snap["in"], "out": snap["out"]}, want


@pytest.mark.parametrize("case", syn.CASES)
def test_generated_counting_cases_count_exactly(tmp_path, case):
    got, want = counted(tmp_path, case, seed=0)
    assert got == want
    assert want == {"composite": {"in": 1, "out": 1}, "touching": {"in": 2, "out": 2},
                    "backoff": {"in": 0, "out": 0}}[case]


@pytest.mark.slow
@pytest.mark.parametrize("case", syn.CASES)
def test_counting_cases_hold_over_other_seeds(tmp_path, case):
    for seed in (1, 2):
        got, want = counted(tmp_path, case, seed)
        assert got == want, (case, seed)


def test_a_box_that_crosses_its_centre_and_backs_off_is_not_a_crossing():
    """The line counter alone, on tracks: a crossing counts once the whole box has cleared."""
    tr, lc = Tracker(min_hits=1), LineCounter("l", (320, 0, 320, 480))
    xs = [150, 190, 230, 270, 290, 300, 290, 270, 230, 190]  # box left edges; 90 px wide
    events = [e for i, x in enumerate(xs)
              for e in lc.update(tr.update([Detection((x, 100, x + 90, 170), 1.0, "object")], i / 10), i / 10)]
    assert events == [] and lc.counts == {"in": 0, "out": 0}
    # The same box carrying on counts once, when its trailing edge is past the line (+ margin).
    for i, x in enumerate([230, 280, 320, 360, 400]):
        got = lc.update(tr.update([Detection((x, 100, x + 90, 170), 1.0, "object")], 2 + i / 10), 2 + i / 10)
        assert [e.direction for e in got] == (["in"] if x == 360 else [])
    assert lc.counts == {"in": 1, "out": 0}


def test_blob_grouping_and_seams():
    import numpy as np

    from inference.motion import group_parts, split_at_seams

    # Three cartons 9 px apart are one object; a box 40 px away is another.
    assert sorted(map(sorted, group_parts([(0, 0, 20, 30), (29, 0, 49, 30), (58, 0, 78, 30), (118, 0, 140, 30)],
                                          16))) == [[0, 1, 2], [3]]
    # Red and green touching: cut at the colour seam; one box with a label stripe: not cut.
    img = np.zeros((30, 80, 3), np.uint8)
    img[:, :40] = (30, 30, 200)
    img[:, 40:] = (40, 170, 40)
    mask = np.ones((30, 80), bool)
    assert split_at_seams(img, mask, (0, 0, 80, 30), 80.0, 0.25) == [(0.0, 0.0, 40.0, 30.0), (40.0, 0.0, 80.0, 30.0)]
    img[:] = (30, 30, 200)
    img[:, 30:36] = 240
    img[10:14, :] = 240
    assert split_at_seams(img, mask, (0, 0, 80, 30), 80.0, 0.25) is None
