"""Properties of the receiver's reading of consent records (cloud_stub/consent.py), over any JSON a
gateway could sign: it never raises, and the operator's grant is never widened."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_stub import consent

CATS = st.sampled_from(["energy", "machine", "env", "erp", "mes", "*", "", "x" * 70])
NAMES = st.sampled_from(["bank-a", "bank-b", "*", ""])
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                   max_size=3), max_leaves=8)
ENTRY = st.fixed_dictionaries({"to": NAMES, "categories": st.lists(CATS, max_size=4)},
                              optional={"until": st.sampled_from([None, "2027-01-01T00:00:00Z", "garbage", 5])})
RECORD = st.fixed_dictionaries({}, optional={
    "recipients": st.lists(ENTRY, max_size=3) | JSONISH, "to": st.lists(NAMES, max_size=3) | JSONISH,
    "allowed": st.lists(CATS, max_size=4) | JSONISH, "denied": st.lists(CATS, max_size=3) | JSONISH,
    "until": st.sampled_from([None, "2027-01-01T00:00:00Z", "2020-01-01", "x"])})


@settings(max_examples=300, deadline=None)
@given(records=st.lists(st.tuples(st.sampled_from(["gw-1", "gw-2"]), RECORD), max_size=4),
       granted=st.none() | st.frozensets(st.sampled_from(["energy", "machine", "env", "erp"]), max_size=4),
       bank=NAMES.filter(bool), now=st.sampled_from([1_790_000_000.0, 1_800_000_000.0]))
def test_any_consent_never_widens_the_grant(records: list[tuple[str, dict[str, Any]]], granted, bank: str,
                                            now: float) -> None:
    ec = consent.EnterpriseConsent()
    for gw, rec in records:
        ec.latest[gw] = rec
        ec.ever_named |= {to for to, _c, _u in consent.entries(rec)}
    eff = consent.effective(ec, bank, granted, now)
    if not records:
        assert eff.status == "no_consent" and eff.categories == granted
        return
    consented = ec.categories_for(bank, now)
    if eff.status == "not_named":
        assert eff.categories == frozenset()
    elif granted is not None:
        assert eff.categories is not None and eff.categories <= granted  # never wider than the grant
        if "*" not in consented:
            assert eff.categories <= consented  # nor than the consent
    elif "*" not in consented:
        assert eff.categories == consented
    d = eff.as_dict()
    assert set(d) == {"status", "granted", "consented", "served", "wider_than_consent"}
