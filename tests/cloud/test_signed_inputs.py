"""cloud_stub/signed_inputs.py as properties: the inputs a bank rebuilds do not depend on the order it
received batches and records in, and a category view equals building from only the visible batches."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_stub.signed_inputs import AcceptedBatch, batch_visible, build_inputs

T0 = 1764201600
NAMES = {"energy": "energy.kwh", "machine": "machine.cycles", "mes": "mes.produced_qty"}


@st.composite
def batches(draw: Any) -> tuple[list[AcceptedBatch], dict[str, list[tuple[int, int]]]]:
    out, locs, rid = [], {}, 0
    for seq in range(1, draw(st.integers(1, 6)) + 1):
        recs = []
        for _ in range(draw(st.integers(0, 5))):
            cat = draw(st.sampled_from(sorted(NAMES)))
            recs.append({"type": "indicator", "name": NAMES[cat], "category": cat, "subject": "s1",
                         "window": {"start": T0 + 3600 * draw(st.integers(-2, 30)), "len": 3600},
                         "value": draw(st.none() | st.floats(-1e6, 1e6) | st.integers(-10, 10)),
                         "q": draw(st.sampled_from([[], ["no_data"], ["estimated"]])),
                         "detail": draw(st.sampled_from([{}, {"cavities": 2}]))})
        body = {"gateway": "gw-1", "enterprise": "ent-1", "seq": seq, "records": recs,
                "created": "2026-01-01T00:00:00Z", "clock": {"synced": draw(st.booleans())}}
        if draw(st.booleans()):
            body["replay"] = {"from": 1}
        h = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        out.append(AcceptedBatch(h, body))
        locs[h] = []
        for i in range(len(recs)):
            rid += 1
            locs[h].append((rid, i))
    return out, locs


@settings(max_examples=60, deadline=None)
@given(batches(), st.randoms(use_true_random=False), st.sampled_from([None, ["energy"], ["energy", "mes"]]))
def test_inputs_do_not_depend_on_arrival_order_and_views_are_the_visible_subset(built, rnd, cats) -> None:
    bs, locs = built
    args = ("ent-1", T0, T0 + 86400, 10**9, 0)
    a = build_inputs(*args, bs, locs, [], categories=cats)
    shuffled = list(bs)
    rnd.shuffle(shuffled)
    relocs = {h: sorted(v, key=lambda _: rnd.random()) for h, v in locs.items()}
    assert build_inputs(*args, shuffled, relocs, [], categories=cats).digest() == a.digest()
    visible = [b for b in bs if batch_visible(b.body, None if cats is None else frozenset(cats))]
    b = build_inputs(*args, visible, locs, [], categories=cats)
    assert b.digest() == a.digest() and b.locators_sha256 == a.locators_sha256
    for by in a.series_by_name.values():
        for s in by.values():
            assert list(s.start) == sorted(set(s.start.tolist()))  # one record per window
            assert cats is None or s.category in cats
