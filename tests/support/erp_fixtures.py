"""Fixtures shared by the connector and indicator tests: a gateway store and an importer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.connectors.importer import Importer
from gateway.privacy.tokens import site_tokeniser
from gateway.store import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "erp"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "gw" / "edgeproof.db", "NORMAL")
    yield s
    s.close()


@pytest.fixture
def importer(store: Store, tmp_path: Path) -> Importer:
    return Importer(store, site_tokeniser(tmp_path / "gw"), "Asia/Shanghai")
