"""The bank's facility, coverage and portfolio API (issue 15), an APIRouter included by http_api.create_app.

Every route needs the bank's bearer token; a bank reads and writes only its own facilities (another
bank's facility id is simply not found: 404, the same as an unknown one). Pages are signed by the
receiver like every feed page (``page_signature``), and ``feed verify`` checks them (V47-V50; the
covenant results on the facilities page V53-V54).

* ``GET /v1/facilities`` the bank's live facilities, with their latest coverage;
* ``PUT /v1/facilities/{facility_id}`` add or replace one (JSON, cloud_stub/facilities.FacilityDoc);
* ``DELETE /v1/facilities/{facility_id}`` remove one;
* ``POST /v1/prices`` add the bank's prices (the JSON form of a price CSV);
* ``GET /v1/feed/{enterprise_id}/facilities`` the bank's facilities of one enterprise, signed page;
* ``GET /v1/portfolio`` every enterprise of the bank, worst first (cloud_stub/portfolio.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from nacl.signing import SigningKey

from cloud_stub import bank_chain, banks, coverage_run, facilities, feed, feed_models, portfolio, prices
from cloud_stub.db import Store

MAX_FACILITY_BYTES = 64 * 1024
MAX_PRICES_BYTES = 4 * 1024 * 1024

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": feed_models.ErrorResponse, "description": "unauthenticated: no or unknown bank token"},
}
_PUT: dict[int | str, dict[str, Any]] = {
    **_AUTH,
    400: {"model": feed_models.ErrorResponse, "description": "bad_facility (names the key), too_large"},
    403: {"model": feed_models.ErrorResponse, "description": "forbidden: the enterprise has not granted this bank"},
}
_DELETE: dict[int | str, dict[str, Any]] = {
    **_AUTH,
    400: {"model": feed_models.ErrorResponse, "description": "bad_facility: a malformed facility id"},
    404: {"model": feed_models.ErrorResponse, "description": "unknown_facility (also another bank's)"},
}
_FEED: dict[int | str, dict[str, Any]] = {
    **_AUTH,
    403: {"model": feed_models.ErrorResponse,
          "description": "forbidden: not authorised for this enterprise (also for unknown enterprises)"},
    410: {"model": feed_models.ErrorResponse, "description": "terminated: the enterprise was offboarded"},
}
_PRICES: dict[int | str, dict[str, Any]] = {
    **_AUTH, 400: {"model": feed_models.ErrorResponse, "description": "bad_prices (names the point and column)"}}
_PRICES_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "JSON {\"prices\": [{day, product_class, price, currency, unit}]}, at most 4 MB",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
_FACILITY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"JSON object, at most {MAX_FACILITY_BYTES} bytes (docs/receiver.md, \"Facilities\")",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def with_coverage(conn: Any, bank_id: str, enterprise_id: str | None) -> list[dict[str, Any]]:
    """The bank's live facilities, each with its latest stored coverage assessment (None: not assessed yet)
    and its covenants' latest results (``covenant_results``; None: none set, or not assessed yet)."""
    cov = coverage_run.latest(conn, bank_id, enterprise_id)
    out = []
    for f in facilities.list_for(conn, bank_id, enterprise_id):
        c = cov.get(f["facility_id"])
        results = c.pop("covenant_results", None) if c is not None else None
        out.append({**f, "coverage": c, "covenant_results": results})
    return out


def facilities_page(rdb: Store, grant: banks.Grant, signing_key: SigningKey) -> dict[str, Any]:
    """The signed page of one enterprise's facilities of this bank (V47, V48, V53, V54)."""
    with rdb.read() as conn:
        items = with_coverage(conn, grant.bank_id, grant.enterprise_id)
    for it in items:  # a grant narrowed since the last run: the stored coverage is no longer this bank's to see
        if it["coverage"] is not None and coverage_run.not_served(it, grant.granted()) is not None:
            it["coverage"] = it["covenant_results"] = None
    page = {"kind": "facilities", "enterprise_id": grant.enterprise_id, "bank": grant.bank_id, "cursor": None,
            "items": items, "next_cursor": None}
    signed = feed.sign_page(page, signing_key)
    bank_chain.keep_off_enterprise_log()  # the bank's own facilities: not in the enterprise's access log
    return signed


def router(rdb: Store, signing_key: SigningKey) -> APIRouter:
    r = APIRouter(tags=["bank facilities"])

    @r.get("/v1/facilities", responses=_AUTH)
    def list_all(authorization: str | None = Header(None)) -> JSONResponse:
        """This bank's live facilities (every enterprise), with their latest coverage; signed."""
        bank = banks.authenticate(rdb, authorization)
        with rdb.read() as conn:
            items = with_coverage(conn, bank, None)
        return JSONResponse(feed.sign_page({"kind": "bank_facilities", "bank": bank, "items": items}, signing_key))

    @r.put("/v1/facilities/{facility_id}", openapi_extra=_FACILITY_DOC, responses=_PUT)
    async def put_facility(facility_id: str, request: Request, authorization: str | None = Header(None)) -> Any:
        """Add or replace one facility of this bank (amount, drawn, term, covenants, pledged goods)."""
        from cloud_stub.http_api import _read_limited

        bank = await run_in_threadpool(banks.authenticate, rdb, authorization)
        body = await _read_limited(request, MAX_FACILITY_BYTES, "request body")
        return await run_in_threadpool(facilities.put, rdb, bank, facility_id, body)

    @r.delete("/v1/facilities/{facility_id}", responses=_DELETE)
    def delete_facility(facility_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        """Remove one facility of this bank (kept for the history its findings refer to)."""
        bank = banks.authenticate(rdb, authorization)
        return facilities.remove(rdb, bank, facility_id)

    @r.post("/v1/prices", openapi_extra=_PRICES_DOC, responses=_PRICES)
    async def post_prices(request: Request, authorization: str | None = Header(None)) -> Any:
        """Add this bank's prices: ``{"prices": [{day, product_class, price, currency, unit}]}``, each checked
        like a CSV row (cloud_stub/prices.py); one bad point stores nothing."""
        from cloud_stub.http_api import _read_limited

        bank = await run_in_threadpool(banks.authenticate, rdb, authorization)
        body = await _read_limited(request, MAX_PRICES_BYTES, "request body")
        points = prices.parse_json(body)
        return await run_in_threadpool(prices.store, rdb, bank, points, "api:bank")

    @r.get("/v1/feed/{enterprise_id}/facilities", tags=["bank feed"], responses=_FEED)
    def get_facilities(enterprise_id: str, authorization: str | None = Header(None)) -> JSONResponse:
        """This bank's facilities of the enterprise with their coverage (value bucketed), signed (V47, V48)."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        bank_chain.keep_off_enterprise_log()
        return JSONResponse(facilities_page(rdb, grant, signing_key))

    @r.get("/v1/portfolio", tags=["bank feed"], responses=_AUTH)
    def get_portfolio(authorization: str | None = Header(None)) -> JSONResponse:
        """Every enterprise of this bank, worst first: authenticity score, repayment assessment, coverage and
        what changed since the bank's last assessment run; signed (V49, V50)."""
        bank = banks.authenticate(rdb, authorization)
        return JSONResponse(portfolio.portfolio(rdb, bank, signing_key))

    return r
