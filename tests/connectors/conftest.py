"""Shared ERP fixtures (tests/support/erp_fixtures.py)."""

from tests.support.erp_fixtures import importer, store  # noqa: F401
