"""docs/wire-format.md §9 lists every check a verifier makes, each with a stable id (V1, V2, ...).
The reference verifier must make the same checks in the same order, each tagged ``# check Vn`` where
it is made, and the document's own PyNaCl-only code must make all of them: so the list, the reference
verifier and the printed code cannot drift apart. (test_feed_verify_doc.py runs the printed code.)

Adding a check: a new list item in §9 (the next free id, placed where the check runs), a ``# check Vn``
tag at the code that makes it in cloud_stub/feed_verify.py, and the check in the §9 code.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "wire-format.md").read_text(encoding="utf-8")
VERIFIER = (ROOT / "cloud_stub" / "feed_verify.py").read_text(encoding="utf-8")


def listed_checks() -> list[tuple[int, str]]:
    """(list number, id) of every item of the numbered check list, in document order."""
    return [(int(n), vid) for n, vid in re.findall(r"^(\d+)\. \*\*(V\d+)\*\*", DOC, re.M)]


def first_occurrences(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def test_the_document_has_one_numbered_list_of_unique_ids():
    items = listed_checks()
    assert len(items) >= 26
    assert [n for n, _ in items] == list(range(1, len(items) + 1)), "one list, numbered 1..n without a break"
    ids = [v for _, v in items]
    assert len(set(ids)) == len(ids), f"an id is listed twice: {ids}"


def test_the_reference_verifier_makes_the_same_checks_in_the_same_order():
    ids = [v for _, v in listed_checks()]
    tagged = first_occurrences(re.findall(r"# check (V\d+)", VERIFIER))
    assert set(tagged) == set(ids), f"only in the document: {set(ids) - set(tagged)}; " \
                                    f"only in feed_verify.py: {set(tagged) - set(ids)}"
    assert tagged == ids, f"feed_verify.py makes the checks in another order: {tagged}"


def test_the_printed_verifier_makes_every_check():
    (code,) = re.findall(r"```bank-verifier\n(.*?)\n```", DOC, re.S)
    ids = {v for _, v in listed_checks()}
    mentioned = set(re.findall(r"\bV\d+\b", code))
    for a, b in re.findall(r"\bV(\d+)-V(\d+)\b", code):  # a range such as V21-V23
        mentioned |= {f"V{i}" for i in range(int(a), int(b) + 1)}
    assert ids <= mentioned, f"the §9 code does not make {sorted(ids - mentioned, key=lambda v: int(v[1:]))}"
    assert mentioned <= ids, f"the §9 code names checks the list lacks: {mentioned - ids}"
