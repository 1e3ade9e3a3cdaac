"""HTTP routes for the enterprise's view and for disputes (issue 16): a module of its own so the
bank feed's module stays as it was.

* ``GET /v1/enterprise/view``: the gateway's signed fetch of what its enterprise's banks see
  (enterprise_view.py; the request statement is in gateway/wire/request.py).
* ``GET /v1/feed/{enterprise_id}/disputes``: a bank's signed page of the enterprise's disputes and
  confirmations, each dispute beside the finding it names, with its status and this bank's
  signed decision.
* ``POST /v1/feed/{enterprise_id}/disputes/{gateway_id}/{dispute_id}/decision``: the bank accepts
  or rejects a dispute, with its reason; answered with the receiver-signed decision.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from nacl.signing import SigningKey
from pydantic import BaseModel, Field

from cloud_stub import banks, disputes, enterprise_view, feed, feed_models
from cloud_stub.db import ReceiverDB
from gateway.wire import request as wire_request

MAX_DECISION_BYTES = 4096


class DecisionRequest(BaseModel):
    decision: str = Field(description="accepted or rejected")
    reason: str | None = Field(None, description="the bank's reason, at most 500 characters; required to reject")


class DisputesPage(BaseModel):
    kind: str
    enterprise_id: str
    bank: str = Field(description="the bank this page is for: its decisions are the ones shown")
    items: list[dict[str, Any]]
    page_signature: feed_models.Signed


class EnterpriseView(BaseModel):
    kind: str
    enterprise_id: str
    gateway_id: str
    request_nonce: str
    score: dict[str, Any] | None
    warning_level: str | None
    reasons: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    disputes: list[dict[str, Any]]
    access_log: list[dict[str, Any]] | None = Field(description="reserved: who pulled what (cloud_stub/access_log)")
    page_signature: feed_models.Signed


def _err(description: str) -> dict[str, Any]:
    return {"model": feed_models.ErrorResponse, "description": description}


_VIEW_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _err("unauthenticated (headers missing), bad_request_statement, bad_signature, wrong_request, "
              "stale_request, replayed_request, too_large, bad_envelope"),
    403: _err("unknown_key, revoked_key"),
}
_DECIDE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _err("bad_request (decision, reason), too_large"),
    401: _err("unauthenticated: no or unknown bank token"),
    403: _err("forbidden: not authorised for this enterprise"),
    404: _err("unknown_dispute"),
    409: _err("already_decided"),
}
_DECIDE_DOC: dict[str, Any] = {"requestBody": {"required": True, "description": "JSON object",
                                               "content": {"application/json": {
                                                   "schema": DecisionRequest.model_json_schema()}}}}


def register(app: FastAPI, rdb: ReceiverDB, signing_key: SigningKey) -> None:
    """Add the routes above to the receiver's app."""
    from cloud_stub.http_api import _FEED_ERRORS, _parse_json, _read_limited

    nonces = enterprise_view.NonceCache()
    tags = ["enterprise view and disputes"]

    @app.get(enterprise_view.PATH, tags=tags, response_model=EnterpriseView, responses=_VIEW_ERRORS)
    def get_view(
        request: Request,
        x_edgeproof_request: str | None = Header(None, alias=wire_request.HEADER_REQUEST),
        x_edgeproof_signature: str | None = Header(None, alias=wire_request.HEADER_SIGNATURE),
    ) -> JSONResponse:
        """The enterprise's own view (latest score report, warning level, reasons, findings with their numbers,
        disputes with each bank's decision), for its gateway: the request is signed with the gateway's key."""
        stmt = enterprise_view.authenticate(rdb, nonces, "GET", request.url.path, x_edgeproof_request,
                                            x_edgeproof_signature)
        return JSONResponse(enterprise_view.build_view(rdb, signing_key, stmt))

    @app.get("/v1/feed/{enterprise_id}/disputes", tags=tags, response_model=DisputesPage, responses=_FEED_ERRORS)
    def get_disputes(enterprise_id: str, authorization: str | None = Header(None)) -> JSONResponse:
        """The enterprise's disputes and confirmations, each dispute beside its finding, with its status
        (open / accepted / rejected) and this bank's receiver-signed decision."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        items = disputes.list_disputes(rdb, enterprise_id, grant.bank_id)
        page = {"kind": "disputes", "enterprise_id": enterprise_id, "bank": grant.bank_id, "items": items}
        return JSONResponse(feed.sign_page(page, signing_key))

    @app.post("/v1/feed/{enterprise_id}/disputes/{gateway_id}/{dispute_id}/decision", tags=tags,
              openapi_extra=_DECIDE_DOC, responses=_DECIDE_ERRORS)
    async def post_decision(enterprise_id: str, gateway_id: str, request: Request,
                            dispute_id: int = PathParam(ge=1, le=feed.SQL_INT_MAX),
                            authorization: str | None = Header(None)) -> JSONResponse:
        """Accept or reject one dispute (once per bank); answered with the receiver-signed decision."""
        # Authorised before the body is read: nothing an unauthenticated client sends is kept.
        grant = await run_in_threadpool(banks.authorise, rdb, authorization, enterprise_id)
        req = _parse_json(await _read_limited(request, MAX_DECISION_BYTES, "request body"), DecisionRequest)
        out = await run_in_threadpool(disputes.decide, rdb, signing_key, grant.bank_id, enterprise_id, gateway_id,
                                      dispute_id, req.decision, req.reason)
        return JSONResponse(out)
