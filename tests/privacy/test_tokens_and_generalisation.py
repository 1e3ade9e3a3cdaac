from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gateway.privacy.policy import Generaliser, bucket, load_privacy
from gateway.privacy.tokens import Tokeniser, TokenKeyError, load_or_create_key, site_tokeniser
from gateway.profile import ProfileError


def test_same_name_same_token_at_one_site_different_across_sites(tmp_path: Path) -> None:
    a = site_tokeniser(tmp_path / "site-a")
    a_again = site_tokeniser(tmp_path / "site-a")  # the key is kept, not regenerated
    b = site_tokeniser(tmp_path / "site-b")
    name = "上海汽车零部件有限公司"
    assert a.token("customer", name) == a_again.token("customer", name)
    assert a.token("customer", name) != b.token("customer", name)
    assert a.token("customer", name).startswith("c_") and len(a.token("customer", name)) == 18
    # spelling variants of one name in ERP exports: full-width letters, spacing, case
    assert a.token("customer", "ＡＣＭＥ  Auto Parts Ltd ") == a.token("customer", "acme auto parts ltd")
    # a product and a customer of the same name do not share a token
    assert a.token("product", name) != a.token("customer", name)
    assert "key" in repr(a) and "hidden" in repr(a)


def test_key_file_is_private_and_a_readable_one_is_refused(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path)
    path = tmp_path / "privacy.key"
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(TokenKeyError, match="readable by others"):
        load_or_create_key(tmp_path)
    with pytest.raises(TokenKeyError):
        Tokeniser(b"short")


def test_buckets_top_and_bottom_coding() -> None:
    bounds = [0.0, 10_000.0, 50_000.0]
    assert bucket(0.0, bounds) == (0.0, 10_000.0)
    assert bucket(9_999.99, bounds) == (0.0, 10_000.0)
    assert bucket(10_000.0, bounds) == (10_000.0, 50_000.0)
    assert bucket(1e9, bounds) == (50_000.0, None)
    assert bucket(-5.0, bounds) == (0.0, 10_000.0)


def rec(name: str, value: float | None, unit: str, **detail: object) -> dict:
    r = {"type": "indicator", "name": name, "category": "erp", "subject": "enterprise",
         "window": {"start": 0, "len": 86400}, "value": value, "unit": unit, "q": [], "def": 1}
    if detail:
        r["detail"] = detail
    return r


def test_generaliser_buckets_amounts_floors_indices_suppresses_small_counts() -> None:
    g = Generaliser(load_privacy({"amount_buckets": [0, 10000, 50000], "index_step": 5, "min_count": 3}))
    out = g.apply(rec("erp.order_amount", 13500.0, "CNY", period="day"))
    assert out["value"] == 10000.0 and out["detail"] == {"period": "day", "range": [10000.0, 50000.0]}
    assert out["q"] == ["bucketed"]
    idx = g.apply(rec("erp.price_index", 112.4, "index"))
    assert idx["value"] == 110.0 and idx["detail"]["range"] == [110.0, 115.0]
    small = g.apply(rec("erp.orders_stage_count", 2.0, "count", period="day", n=2))
    assert small["value"] is None and small["q"] == ["suppressed_small_count"] and small["detail"] == {"period": "day"}
    assert g.apply(rec("erp.orders_stage_count", 0.0, "count"))["value"] == 0.0  # zero reveals no one
    assert g.apply(rec("erp.orders_stage_count", 3.0, "count"))["value"] == 3.0
    energy = rec("energy.kwh", 2.0, "kWh")
    assert g.apply({**energy, "name": "energy.kwh"}) == energy  # not an amount, not matched
    original = rec("erp.order_amount", 13500.0, "CNY")
    g.apply(original)
    assert original["value"] == 13500.0  # the store's copy is not touched


def test_privacy_section_errors() -> None:
    with pytest.raises(ProfileError, match="privacy.amount_buckets"):
        load_privacy({"amount_buckets": [0, 5, 5]})
    with pytest.raises(ProfileError, match="privacy.min_count"):
        load_privacy({"min_count": -1})
    with pytest.raises(ProfileError, match="privacy.colour"):
        load_privacy({"colour": 1})
