"""The findings/alerts hash chain (cloud_stub/feed_chain.py), as a property: any chain the receiver
builds verifies; deleting, reordering or editing any item is named."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_stub.feed_chain import FIELDS, GENESIS, ChainCheck, detail_sha256, entry_hash

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
_json = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | _text,
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(_text, c, max_size=3), max_leaves=8)


@st.composite
def chains(draw: Any) -> tuple[str, list[dict[str, Any]]]:
    chain = draw(st.sampled_from(sorted(FIELDS)))
    items, prev = [], GENESIS
    for i in range(draw(st.integers(1, 6))):
        item: dict[str, Any] = {"id": i + 1, **{k: draw(st.none() | _text | st.integers(0, 10**6))
                                                 for k in FIELDS[chain]}}
        item["detail"] = draw(st.dictionaries(_text, _json, max_size=3))
        item["detail_sha256"] = detail_sha256(item["detail"])
        item["prev"], item["hash"] = prev, entry_hash(chain, item, item["detail_sha256"], prev)
        prev = item["hash"]
        items.append(item)
    return chain, items


@settings(max_examples=60, deadline=None)
@given(chains(), st.data())
def test_a_built_chain_verifies_and_any_deletion_or_edit_is_named(built, data) -> None:
    chain, items = built
    assert ChainCheck(chain).check(items) == []
    # split across two pages (and two runs: the tip carries over)
    cut = data.draw(st.integers(0, len(items)))
    first = ChainCheck(chain)
    assert first.check(items[:cut]) == []
    assert ChainCheck(chain, first.tip).check(items[cut:]) == []
    gone = data.draw(st.integers(0, len(items) - 1))
    if gone < len(items) - 1:  # deleting the last one is caught by the tip check, not the chain
        assert ChainCheck(chain).check(items[:gone] + items[gone + 1:]) != []
    edited = dict(items[gone])
    field = data.draw(st.sampled_from([*FIELDS[chain], "detail"]))
    if field == "detail":
        edited["detail"] = {**edited["detail"], "edited": True}
    else:
        edited[field] = "edited" if edited[field] != "edited" else "other"
    assert ChainCheck(chain).check(items[:gone] + [edited] + items[gone + 1:]) != []
    withheld = [{k: v for k, v in it.items() if k != "detail"} | {"withheld": True} for it in items]
    assert ChainCheck(chain).check(withheld) == []  # detail withheld: the chain still checks
