"""Property tests of the outside-record parser: any JSON either parses or fails with a RecordError naming
where and which key (never another exception), and a record's digest depends on its content only."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_stub.outside import records

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
NEWS = st.fixed_dictionaries({"sentiment": st.floats(-1, 1), "headline": st.text(min_size=1, max_size=20).filter(
    str.strip)})


@settings(max_examples=300, deadline=None)
@given(raw=JSON | st.dictionaries(st.sampled_from([*records.FIELDS, "signature", "x"]), JSON, max_size=7))
def test_anything_parses_or_is_refused_with_where_and_key(raw: Any) -> None:
    try:
        rec = records.parse(raw, "f.jsonl line 1")
    except records.RecordError as exc:
        assert str(exc).startswith("f.jsonl line 1: ") and ": expected " in str(exc)
    else:
        assert len(rec.sha256) == 64 and rec.kind in records.KINDS


@settings(max_examples=100, deadline=None)
@given(data=NEWS, day=st.dates().map(lambda d: d.isoformat()).filter(lambda s: len(s) == 10))
def test_the_digest_is_the_content_not_the_layout(data: dict[str, Any], day: str) -> None:
    rec = {"source": "news-wire", "kind": "news", "enterprise_id": "ent-1", "date": day, "data": data}
    shuffled = json.loads(json.dumps(dict(reversed(list(rec.items())))))
    a, b = records.parse(rec, "a"), records.parse(shuffled, "b")
    assert a.sha256 == b.sha256 == records.digest(rec)
    changed = records.parse({**rec, "data": {**data, "headline": data["headline"] + "!"}}, "c")
    assert changed.sha256 != a.sha256
