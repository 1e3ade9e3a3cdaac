"""``GET /v1/feed/{enterprise_id}/bank-findings`` and ``.../bank-alerts``: a bank's private chains (issue 15).

What the bank's facilities give about this enterprise (coverage, covenant findings, margin-call alerts),
hash-chained per (enterprise, bank) (cloud_stub/bank_chain.py) and served to that bank only: signed and
paged like the findings and alerts feeds. ``feed verify`` checks them (V51, V52).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from nacl.signing import SigningKey

from cloud_stub import bank_chain, banks
from cloud_stub.db import Store

CURSOR_DOC = "opaque: the next_cursor (or resume_cursor) of the previous page of this same feed"
LIMIT_DOC = f"1..{bank_chain.MAX_LIMIT}; page size; 400 bad_limit outside it"


def router(rdb: Store, signing_key: SigningKey, errors: dict[int | str, dict[str, Any]]) -> APIRouter:
    from cloud_stub.http_api import _sql_int

    r = APIRouter(tags=["bank feed"])

    @r.get("/v1/feed/{enterprise_id}/bank-findings", responses=errors)
    def get_bank_findings(
        enterprise_id: str,
        cursor: str | None = Query(None, description=CURSOR_DOC),
        after: int | None = _sql_int(None, ge=0, description="findings with id > after (cursor wins)"),
        limit: int = Query(1000, description=LIMIT_DOC),
        authorization: str | None = Header(None),
    ) -> JSONResponse:
        """This bank's private findings about the enterprise (its facilities' coverage and covenants), oldest
        first, hash-chained per (enterprise, bank) (docs/wire-format.md §24)."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        bank_chain.keep_off_enterprise_log()  # even when the request then fails (a bad cursor)
        return JSONResponse(bank_chain.findings_page(rdb, grant, signing_key, cursor=cursor, after_id=after,
                                                     limit=limit))

    @r.get("/v1/feed/{enterprise_id}/bank-alerts", responses=errors)
    def get_bank_alerts(
        enterprise_id: str,
        cursor: str | None = Query(None, description=CURSOR_DOC),
        after: int | None = _sql_int(None, ge=0, description="alerts with id > after (cursor wins)"),
        limit: int = Query(1000, description=LIMIT_DOC),
        authorization: str | None = Header(None),
    ) -> JSONResponse:
        """This bank's private alerts about the enterprise (margin calls), oldest first, hash-chained per
        (enterprise, bank) (docs/wire-format.md §24)."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        bank_chain.keep_off_enterprise_log()  # even when the request then fails (a bad cursor)
        return JSONResponse(bank_chain.alerts_page(rdb, grant, signing_key, cursor=cursor, after_id=after,
                                                   limit=limit))

    return r
