"""Cross-verification rules, one module each; :func:`all_rules` imports them all once."""

from __future__ import annotations

import importlib
import pkgutil

from cloud_stub.rules.base import Finding, Rule, register, registered, registered_version

__all__ = ["Finding", "Rule", "all_rules", "register", "registered_version"]


def all_rules() -> dict[str, type[Rule]]:
    """Every rule in this package by id: importing the modules is what registers them."""
    for mod in pkgutil.iter_modules(__path__):
        if mod.name != "base" and not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
    return registered()
