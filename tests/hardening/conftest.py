"""Fixtures shared with the connector tests (a real store and importer)."""

from tests.support.erp_fixtures import importer, store  # noqa: F401
