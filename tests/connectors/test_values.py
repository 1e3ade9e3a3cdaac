from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.connectors.values import parse_datetime, parse_direction, parse_number

TZ = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("raw", "expected"), [
    ("1,234.50", 1234.5), ("¥1,234", 1234.0), ("￥12", 12.0), ("1.2万", 12000.0), ("(300)", -300.0),
    ("12 元", 12.0), (7, 7.0), ("", None), (None, None), ("1，000", 1000.0)])
def test_numbers(raw: object, expected: float | None) -> None:
    assert parse_number(raw) == expected


@pytest.mark.parametrize("raw", ["三", "1.2.3", "nan?", True])
def test_not_numbers(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_number(raw)


@pytest.mark.parametrize("raw", ["2026-10-05", "2026/10/5", "2026.10.05", "20261005", "2026年10月5日",
                                 datetime(2026, 10, 5)])
def test_dates(raw: object) -> None:
    dt = parse_datetime(raw, TZ)
    assert dt is not None and dt.isoformat() == "2026-10-05T00:00:00+08:00"


def test_datetimes_and_bad_dates() -> None:
    assert parse_datetime("2026-10-05 14:30", TZ).isoformat() == "2026-10-05T14:30:00+08:00"  # type: ignore[union-attr]
    assert parse_datetime("2026年10月5日 8时30分", TZ).hour == 8  # type: ignore[union-attr]
    for bad in ("2026-13-01", "05/10/2026", "1900-01-01", "yesterday"):
        with pytest.raises(ValueError):
            parse_datetime(bad, TZ)


def test_directions() -> None:
    assert [parse_direction(x) for x in ("入库", "出库", "IN", "out", "")] == ["in", "out", "in", "out", None]
    with pytest.raises(ValueError):
        parse_direction("移库")
