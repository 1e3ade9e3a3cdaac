"""``GET /v1/feed/{enterprise_id}/access-log``: a bank reads who accessed the enterprise's data.

Signed and paged like the other feed pages (cursor, ``next_cursor``, ``resume_cursor``); each page also
carries ``head``, the enterprise's latest entry when the page was read, so a verifier knows where the
chain it followed must end (V36). The request itself is logged after it is answered, so it is never
in the page it reads.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from nacl.signing import SigningKey

from cloud_stub import access_log, banks, feed
from cloud_stub.db import Store

MAX_LIMIT = 1000


def access_log_page(rdb: Store, grant: banks.Grant, signing_key: SigningKey, *, cursor: str | None,
                    limit: int) -> dict[str, Any]:
    feed.check_limit(limit, MAX_LIMIT)
    after = feed.decode_cursor(cursor, "a")
    with rdb.read() as conn:
        rows, more = feed.page_rows(conn, "access_log", access_log.COLUMNS, grant.enterprise_id, after, limit)
        tip = access_log.chain_tip(conn, grant.enterprise_id)
    items = [access_log.row_item(r) for r in rows]
    head = {"id": tip[0], "hash": tip[1]} if tip[0] else None
    return feed._list_page("access_log", grant, cursor, rows, more, after, "a", items, signing_key, head=head)


def router(rdb: Store, signing_key: SigningKey, errors: dict[int | str, dict[str, Any]]) -> APIRouter:
    r = APIRouter(tags=["bank feed"])

    @r.get("/v1/feed/{enterprise_id}/access-log", responses=errors)
    def get_access_log(
        enterprise_id: str,
        cursor: str | None = Query(None, description="opaque: the next_cursor (or resume_cursor) of the previous"
                                                      " page of this same feed"),
        limit: int = Query(500, description=f"1..{MAX_LIMIT}; page size; 400 bad_limit outside it"),
        authorization: str | None = Header(None),
    ) -> JSONResponse:
        """Every authenticated request about this enterprise (who, when, from where, what it returned),
        oldest first, hash-chained (docs/wire-format.md §14)."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        return JSONResponse(access_log_page(rdb, grant, signing_key, cursor=cursor, limit=limit))

    return r
