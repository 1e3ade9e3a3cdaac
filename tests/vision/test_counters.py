"""Direction contract, hysteresis and the tracker, on hand-made tracks (image y down)."""

from __future__ import annotations

from inference.counters import Activity, LineCounter, SafetyMonitor, Zone, people_present
from inference.geometry import Detection, side
from inference.tracker import Tracker


def walk(points, line, label="object", size=20.0):
    """Feed one object along ``points`` through a tracker and a line counter."""
    tr = Tracker(min_hits=2)
    lc = LineCounter("l", line)
    for i, (x, y) in enumerate(points):
        tr.update([Detection((x - size, y - size, x + size, y + size), 0.9, label)], float(i))
        lc.update(tr.tracks, float(i))
    return lc.counts


def test_side_formula_matches_the_contract():
    down = (100, 0, 100, 200)  # drawn top to bottom
    assert side(down, (50, 100)) > 0 > side(down, (150, 100))
    right = (0, 100, 200, 100)  # drawn left to right
    assert side(right, (100, 150)) > 0 > side(right, (100, 50))  # below (y bigger) is s > 0


def test_line_drawn_top_to_bottom_left_to_right_is_in():
    line = (100, 0, 100, 200)
    assert walk([(x, 100) for x in range(20, 200, 15)], line) == {"in": 1, "out": 0}
    assert walk([(x, 100) for x in range(200, 20, -15)], line) == {"in": 0, "out": 1}


def test_line_drawn_left_to_right_upward_is_in():
    line = (0, 100, 200, 100)
    assert walk([(100, y) for y in range(190, 10, -15)], line) == {"in": 1, "out": 0}
    assert walk([(100, y) for y in range(10, 190, 15)], line) == {"in": 0, "out": 1}


def test_reversed_line_swaps_directions():
    assert walk([(x, 100) for x in range(20, 200, 15)], (100, 200, 100, 0)) == {"in": 0, "out": 1}


def test_jitter_on_the_line_is_not_counted():
    pts = [(60, 100), (80, 100)] + [(100 + d, 100) for d in (-3, 3, -2, 2, -3, 3)] + [(80, 100)]
    assert walk(pts, (100, 0, 100, 200)) == {"in": 0, "out": 0}


def test_passing_beside_the_segment_is_not_counted():
    assert walk([(x, 300) for x in range(20, 200, 15)], (100, 0, 100, 200)) == {"in": 0, "out": 0}


def test_back_and_forth_counts_both():
    pts = [(x, 100) for x in range(20, 200, 20)] + [(x, 100) for x in range(200, 20, -20)]
    assert walk(pts, (100, 0, 100, 200)) == {"in": 1, "out": 1}


def test_tracker_keeps_identity_for_fast_small_objects():
    tr = Tracker(min_hits=2)
    for i in range(6):
        x = 10 + 20 * i  # two box widths per step: never any IoU overlap
        tr.update([Detection((x, 50, x + 10, 60), 0.9)], float(i))
    assert len(tr.tracks) == 1 and tr.tracks[0].hits == 6


def test_tracker_two_objects_and_drop_after_misses():
    tr = Tracker(min_hits=1, max_missed=2)
    tr.update([Detection((0, 0, 10, 10), 0.9), Detection((100, 100, 110, 110), 0.9)], 0.0)
    ids = sorted(t.id for t in tr.tracks)
    tr.update([Detection((2, 0, 12, 10), 0.9), Detection((102, 100, 112, 110), 0.9)], 1.0)
    assert sorted(t.id for t in tr.tracks) == ids
    for k in range(3):
        tr.update([], 2.0 + k)
    assert tr.tracks == []


def test_zones_presence_and_safety():
    tr = Tracker(min_hits=1)
    danger = Zone("press", [(0, 0), (100, 0), (100, 100), (0, 100)], kind="danger", anchor="centre")
    safety = SafetyMonitor([danger])
    tracks = tr.update([Detection((40, 40, 60, 60), 0.9, "person"),
                        Detection((240, 40, 260, 60), 0.9, "person")], 0)
    assert people_present(tracks, []) == 2
    assert people_present(tracks, [Zone("floor", [(200, 0), (300, 0), (300, 100), (200, 100)],
                                        anchor="centre")]) == 1
    assert safety.update(tracks, line_active=False, ts=0) == []
    assert len(safety.update(tracks, line_active=True, ts=1)) == 1
    assert safety.update(tracks, line_active=True, ts=2) == []  # staying inside is one event
    solo, mon = Tracker(min_hits=1), SafetyMonitor([danger])
    inside, outside = (60, 40, 100, 80), (110, 40, 150, 80)  # centres x=80 (in) and x=130 (out)
    seen = []
    for ts, box in [(0, inside), (1, outside), (2, inside), (3, outside), (4, outside), (6, outside),
                    (7, inside)]:
        seen.append(len(mon.update(solo.update([Detection(box, 0.9, "person")], ts), True, ts)))
    assert len({t.id for t in solo.tracks}) == 1
    assert seen == [1, 0, 0, 0, 0, 0, 1]  # back in after 1 s: edge jitter; after 4 s: a new entry
    assert mon.events == 2


def test_activity_hold():
    act = Activity(hold_s=10)
    from inference.counters import Crossing

    assert not act.update([], 0.0)
    assert act.update([Crossing("l", "in", 1, "object", 1.0)], 1.0)
    assert act.update([], 10.0)
    assert not act.update([], 12.0)
    assert act.active_s == 9.0 + 1.0  # 1->10 active, 10->12 was still active at 10
