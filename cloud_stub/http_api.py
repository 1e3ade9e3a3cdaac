"""The receiver's HTTP API (FastAPI): ingest, enrollment, keys, bank feed.

Thin on purpose: every decision lives in ingest/enrollment/banks/feed so MQTT and the
CLI behave identically. Errors are ``{"status": "rejected"|"error", "code", "message"}``
with stable codes; OpenAPI is served at /openapi.json.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nacl.signing import SigningKey
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud_stub import banks, enrollment, feed, feed_models, receiver_key
from cloud_stub.db import ReceiverDB
from cloud_stub.errors import ReceiverError
from cloud_stub.ingest import ingest
from gateway import wire

log = logging.getLogger("cloud_stub.http")


class EnrollRequest(BaseModel):
    token: str
    gateway_id: str
    public_key: str
    proof: str


DRAIN_LIMIT = 64 * 1024 * 1024
MAX_ENROLL_BYTES = 16 * 1024

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": feed_models.ErrorResponse, "description": "malformed or oversized request, bad parameter"},
}
_FEED_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": feed_models.ErrorResponse, "description": "bad_cursor, bad_limit, bad_request"},
    401: {"model": feed_models.ErrorResponse, "description": "unauthenticated: no or unknown bank token"},
    403: {"model": feed_models.ErrorResponse,
          "description": "forbidden: not authorised for this enterprise (also for unknown enterprises)"},
}
_ENROLL_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"JSON object, at most {MAX_ENROLL_BYTES} bytes",
        "content": {"application/json": {"schema": EnrollRequest.model_json_schema()}},
    }
}

_ENVELOPE_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A gateway.wire envelope: {format, kid, body (base64 canonical JSON), sig (base64)}",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


async def _read_limited(request: Request, limit: int, what: str = "envelope") -> bytes:
    """Read the request body, keeping at most ``limit`` bytes.

    An oversized body is still drained (up to DRAIN_LIMIT) before answering, so the client
    reads our ``too_large`` reply instead of a broken pipe.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > DRAIN_LIMIT:
            break
    if size > limit:
        raise ReceiverError("too_large", f"{what} is over {limit} bytes", 400)
    return b"".join(chunks)


def _parse_json(data: bytes, model: type[BaseModel]) -> Any:
    """A JSON body into ``model``; malformed JSON or missing fields are a 400 ``bad_request``."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReceiverError("bad_request", f"body is not valid JSON: {exc}", 400, status="error") from None
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        fields = [".".join(str(p) for p in e.get("loc", ())) or "(body)" for e in exc.errors()]
        raise ReceiverError("bad_request", f"invalid or missing fields: {fields}", 400, status="error") from None


def create_app(rdb: ReceiverDB, signing_key: SigningKey) -> FastAPI:
    """The ASGI app over one open database and the receiver's signing key."""
    app = FastAPI(
        title="EdgeProof receiver",
        version="1",
        description="Ingest of signed gateway batches, gateway enrollment, and the bank feed.",
    )
    key_info = receiver_key.public_info(signing_key)

    @app.exception_handler(ReceiverError)
    async def _receiver_error(_: Request, exc: ReceiverError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.http_status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"status": "error", "code": code, "message": str(exc.detail)},
                            status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()]
        return JSONResponse(
            {"status": "error", "code": "bad_request", "message": f"invalid or missing fields: {fields}"},
            status_code=400,
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/batches", openapi_extra=_ENVELOPE_DOC)
    async def post_batch(request: Request) -> JSONResponse:
        """Submit one signed batch envelope. 200 accepted/duplicate; 4xx rejected with a stable code."""
        data = await _read_limited(request, wire.MAX_ENVELOPE_BYTES)
        result = await run_in_threadpool(ingest, rdb, data, "http")
        return JSONResponse(result.to_json(), status_code=result.http_status)

    @app.post("/v1/enroll", openapi_extra=_ENROLL_DOC, responses=_ERRORS)
    async def post_enroll(request: Request) -> dict[str, str]:
        """Register a gateway key with a one-time token and a proof of possession."""
        req = _parse_json(await _read_limited(request, MAX_ENROLL_BYTES, "request body"), EnrollRequest)
        out = await run_in_threadpool(enrollment.enroll, rdb, req.token, req.gateway_id, req.public_key, req.proof)
        log.info("enrolled", extra={"event": "enroll", "gateway": out["gateway_id"], "kid": out["kid"],
                                     "enterprise": out["enterprise_id"]})
        return {**out, "receiver_kid": key_info["kid"], "receiver_public_key": key_info["public_key"]}

    @app.get("/v1/gateways/{gateway_id}/keys")
    def get_keys(gateway_id: str) -> dict[str, Any]:
        """Public: every key of a gateway, with enrollment and revocation times."""
        return enrollment.gateway_keys(rdb, gateway_id)

    @app.get("/v1/receiver/key")
    def get_receiver_key() -> dict[str, str]:
        """The key that signs feed pages; banks should pin it out of band."""
        return key_info

    _register_feed(app, rdb, signing_key)
    return app


def _register_feed(app: FastAPI, rdb: ReceiverDB, signing_key: SigningKey) -> None:
    """The bank feed endpoints: every one needs a bank bearer token and answers signed JSON."""
    tags = ["bank feed"]
    limit_doc = "page size; 400 bad_limit outside the documented range"
    cursor_doc = "opaque: the next_cursor (or resume_cursor) of the previous page of this same feed"

    @app.get("/v1/feed/enterprises", tags=tags, response_model=feed_models.EnterprisesPage,
             responses=_FEED_ERRORS)
    def get_enterprises(authorization: str | None = Header(None)) -> JSONResponse:
        """The enterprises that authorised this bank, with the categories each granted."""
        bank = banks.authenticate(rdb, authorization)
        page = {"kind": "enterprises", "bank": bank, "enterprises": banks.bank_enterprises(rdb, bank)}
        return JSONResponse(feed.sign_page(page, signing_key))

    @app.get("/v1/feed/{enterprise_id}/records", tags=tags, response_model=feed_models.RecordsPage,
             responses=_FEED_ERRORS)
    def get_records(
        enterprise_id: str,
        cursor: str | None = Query(None, description=cursor_doc),
        limit: int = Query(feed.DEFAULT_LIMIT, description=f"1..{feed.MAX_LIMIT}; {limit_doc}"),
        authorization: str | None = Header(None),
    ) -> JSONResponse:
        """A signed page of records with their batches; follow ``next_cursor`` until null.

        Batches holding a category this bank was not granted are replaced by ``withheld`` stubs.
        """
        grant = banks.authorise(rdb, authorization, enterprise_id)
        return JSONResponse(feed.feed_page(rdb, grant, cursor, limit, signing_key))

    @app.get("/v1/feed/{enterprise_id}/indicators", tags=tags, response_model=feed_models.IndicatorsPage,
             responses=_FEED_ERRORS)
    def get_indicators(
        enterprise_id: str,
        name: str | None = Query(None, description="indicator name, e.g. energy.kwh"),
        subject: str | None = Query(None, description="asset or device the indicator is about"),
        start: int | None = Query(None, alias="from", description="window.start >= this (Unix seconds)"),
        end: int | None = Query(None, alias="to", description="window.start < this (Unix seconds)"),
        cursor: str | None = Query(None, description=cursor_doc),
        limit: int = Query(feed.DEFAULT_LIMIT, description=f"1..{feed.MAX_LIMIT}; {limit_doc}"),
        authorization: str | None = Header(None),
    ) -> JSONResponse:
        """Decoded indicator values of granted categories, each locating its record in the records feed."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        return JSONResponse(feed.indicators_page(rdb, grant, signing_key, cursor=cursor, limit=limit, name=name,
                                                 subject=subject, start=start, end=end))

    @app.get("/v1/feed/{enterprise_id}/findings", tags=tags, response_model=feed_models.FindingsPage,
             responses=_FEED_ERRORS)
    def get_findings(
        enterprise_id: str,
        cursor: str | None = Query(None, description=cursor_doc),
        after: int | None = Query(None, description="legacy: findings with id > after (cursor wins)"),
        limit: int = Query(1000, description=f"1..10000; {limit_doc}"),
        authorization: str | None = Header(None),
    ) -> JSONResponse:
        """Chain findings (gaps, equivocations, rejected batches) and cross-verification rule findings."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        return JSONResponse(feed.findings_page(rdb, grant, signing_key, cursor=cursor, after_id=after,
                                               limit=limit))

    @app.get("/v1/feed/{enterprise_id}/scores", tags=tags, response_model=feed_models.ScoresPage,
             responses=_FEED_ERRORS)
    def get_scores(
        enterprise_id: str,
        cursor: str | None = Query(None, description=cursor_doc),
        limit: int = Query(100, description=f"1..1000; {limit_doc}"),
        authorization: str | None = Header(None),
    ) -> JSONResponse:
        """Score reports, oldest first, each with the receiver's signature over the report."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        return JSONResponse(feed.scores_page(rdb, grant, signing_key, cursor=cursor, limit=limit))

    @app.get("/v1/feed/{enterprise_id}/scores/latest", tags=tags, response_model=feed_models.LatestScore,
             responses={**_FEED_ERRORS, 404: {"model": feed_models.ErrorResponse, "description": "no_score"}})
    def get_latest_score(enterprise_id: str, authorization: str | None = Header(None)) -> JSONResponse:
        """The most recent score report with its receiver signature."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        return JSONResponse(feed.latest_score(rdb, grant, signing_key))

    @app.get("/v1/feed/{enterprise_id}/alerts", tags=tags, response_model=feed_models.AlertsPage,
             responses=_FEED_ERRORS)
    def get_alerts(
        enterprise_id: str,
        cursor: str | None = Query(None, description=cursor_doc),
        after: int | None = Query(None, description="alerts with id > after (cursor wins); a bank re-reads the "
                                  "last alert an earlier run verified"),
        limit: int = Query(1000, description=f"1..10000; {limit_doc}"),
        authorization: str | None = Header(None),
    ) -> JSONResponse:
        """Alerts: what a bank should act on now (red findings, equivocation, a worse warning level)."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        return JSONResponse(feed.alerts_page(rdb, grant, signing_key, cursor=cursor, limit=limit, after_id=after))
