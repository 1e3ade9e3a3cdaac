"""Small builders for indicator tests: a WindowContext from plain lists, a Profile from a dict."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.indicators.base import DeviceWindow, Series, WindowContext
from gateway.indicators.registry import all_indicators
from gateway.profile.schema import Profile


def series(points: list[tuple[float, float | None]] | list[tuple[float, float | None, str]],
           before: tuple[float, float] | None = None, counter: bool = False,
           rollover: float | None = None, after: tuple[float, float] | None = None) -> Series:
    ts = [p[0] for p in points]
    vals = [p[1] for p in points]
    qual = [p[2] if len(p) > 2 else "good" for p in points]  # type: ignore[misc]
    return Series(ts, vals, qual, before=before, counter=counter, rollover=rollover, after=after)


def ctx(start: float, length: float, poll_s: float = 60.0, asset: str = "a", params: dict[str, Any] | None = None,
        profile: Any = None, store: Any = None, devices: list[DeviceWindow] | None = None,
        **meanings: Series) -> WindowContext:
    data = {k.replace("__", "."): v for k, v in meanings.items()}
    devs = devices if devices is not None else [DeviceWindow("dev", poll_s, int(length / poll_s), 0, 0, len(data))]
    return WindowContext(asset=asset, start=start, length=length, series=data, devices=devs,
                         params=dict(params or {}), profile=profile, store=store)


def profile(**sections: Any) -> Profile:
    base = {"site": {"id": "t", "timezone": sections.pop("timezone", "UTC")}}
    return msgspec.convert({**base, **sections}, Profile)


def run(name: str, c: WindowContext) -> list[Any]:
    ind = all_indicators()[name]
    assert ind.applies(c), f"{name} does not apply"
    return ind.compute(c)


def one(name: str, c: WindowContext) -> Any:
    vals = run(name, c)
    assert len(vals) == 1
    return vals[0]
