"""Indicators register themselves by name; the engine asks the registry, never a switch."""

from __future__ import annotations

import importlib
import pkgutil

from gateway.indicators.base import Indicator

_REGISTRY: dict[str, Indicator] = {}
_LOADED = False


def register(cls: type[Indicator]) -> type[Indicator]:
    if cls.name in _REGISTRY and type(_REGISTRY[cls.name]) is not cls:
        raise ValueError(f"indicator {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


def all_indicators() -> dict[str, Indicator]:
    """Every indicator module under gateway/indicators/ is imported once, here."""
    global _LOADED
    if not _LOADED:
        import gateway.indicators as pkg

        for mod in pkgutil.iter_modules(pkg.__path__):
            if mod.name not in ("base", "registry", "engine", "windows"):
                importlib.import_module(f"gateway.indicators.{mod.name}")
        _LOADED = True
    return dict(_REGISTRY)
