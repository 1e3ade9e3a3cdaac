"""The receiver's HTTP API (FastAPI): ingest, enrollment, keys, bank feed.

Thin on purpose: every decision lives in ingest/enrollment/banks/feed so MQTT and the
CLI behave identically. Errors are ``{"status": "rejected"|"error", "code", "message"}``
with stable codes; OpenAPI is served at /openapi.json.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nacl.signing import SigningKey
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud_stub import (
    access_log,
    access_log_api,
    banks,
    enrollment,
    feed,
    feed_models,
    fleet_api,
    heads,
    http_capabilities,
    http_text,
    receiver_key,
    rejections,
    updates_api,
)
from cloud_stub.db import ReceiverDB
from cloud_stub.errors import ReceiverError
from cloud_stub.ingest import ingest
from cloud_stub.json_limits import MAX_DEPTH, depth_exceeds
from cloud_stub.ops_options import OpsOptions
from cloud_stub.ops_options import install as install_ops
from gateway import wire

log = logging.getLogger("cloud_stub.http")


class EnrollRequest(BaseModel):
    token: str
    gateway_id: str
    public_key: str
    proof: str
    # where the key lives (cloud_stub/key_attestation.py): {"protection": "file"} or, for a TPM key,
    # {"protection": "tpm", "tpm_public", and optionally "ak_public", "certify_info", "certify_sig"} (base64)
    key_store: dict[str, Any] | None = None


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
    410: {"model": feed_models.ErrorResponse,
          "description": "terminated: the enterprise was offboarded (cloud offboard) while this bank held a grant"},
}
_BATCH_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": feed_models.ErrorResponse, "description": "bad_envelope, too_large, bad_body, bad_signature,"
          " kid_mismatch, gateway_mismatch, bad_encoding (a corrupt zstd frame or compact envelope)"},
    403: {"model": feed_models.ErrorResponse, "description": "unknown_key, revoked_key"},
    409: {"model": feed_models.ErrorResponse, "description": "equivocation, out_of_order, chain_broken, stale_seq"},
}
_HEAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": feed_models.ErrorResponse, "description": "bad_envelope, too_large, bad_encoding, bad_signature,"
          " bad_statement, kid_mismatch, gateway_mismatch, bad_time"},
    403: {"model": feed_models.ErrorResponse, "description": "unknown_key, revoked_key"},
    409: {"model": feed_models.ErrorResponse, "description": "equivocation, stale_head"},
}
_KEYS_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS, 404: {"model": feed_models.ErrorResponse, "description": "unknown_gateway"}}
_ENROLL_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": feed_models.ErrorResponse, "description": "bad_request, too_large, bad_signature (proof)"},
    403: {"model": feed_models.ErrorResponse, "description": "unknown_token, token_used, token_expired, revoked_key"},
    409: {"model": feed_models.ErrorResponse, "description": "gateway_conflict, key_in_use"},
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


_HEAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A gateway.wire head statement envelope: {format: 'edgeproof-headstmt/1', kid, body (base64 "
                       "canonical JSON of {v, gateway, enterprise, kid, seq, hash, time, heads_from}), sig (base64)}",
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
    """A JSON body into ``model``; malformed or too deeply nested JSON, missing fields are a 400 ``bad_request``."""
    if depth_exceeds(data):
        raise ReceiverError("bad_request", f"body nests deeper than {MAX_DEPTH} levels", 400, status="error")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReceiverError("bad_request", f"body is not valid JSON: {exc}", 400, status="error") from None
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        fields = [".".join(str(p) for p in e.get("loc", ())) or "(body)" for e in exc.errors()]
        raise ReceiverError("bad_request", f"invalid or missing fields: {fields}", 400, status="error") from None


def _no_nul(request: Request) -> None:
    """Every path and query parameter, for every route: a NUL character is refused here, once.

    No id, name or cursor has one, and PostgreSQL text cannot hold it (the query would fail
    with a 500 on one store and answer on the other)."""
    if any("\x00" in v for v in request.query_params.getlist("cursor")):  # not a cursor we issued
        raise ReceiverError("bad_cursor", "cursor is not one this receiver issued for this feed", 400, status="error")
    values = [*request.path_params.values(), *request.query_params.keys(), *request.query_params.values()]
    if any("\x00" in str(v) for v in values):
        raise ReceiverError("bad_request", "a path or query parameter has a NUL character", 400, status="error")


def _sql_int(default: int | None, alias: str | None = None, ge: int = feed.SQL_INT_MIN, *, description: str) -> Any:
    """An integer query parameter, bounded to what both stores hold (64-bit signed): one place, so a
    30-digit ``to=`` is a JSON 400 ``bad_request`` like any other bad value, not an overflow in the store."""
    return Query(default, alias=alias, ge=ge, le=feed.SQL_INT_MAX, description=description)


def create_app(rdb: ReceiverDB, signing_key: SigningKey, ops: OpsOptions | None = None) -> FastAPI:
    """The ASGI app over one open database and the receiver's signing key; ``ops``: metrics access,
    rate limits and access log (cloud_stub/ops_options.py; default: loopback-only metrics, no limits)."""
    app = FastAPI(
        title="EdgeProof receiver",
        version="1",
        description="Ingest of signed gateway batches, gateway enrollment, and the bank feed. Every error is"
                    " JSON {status, code, message} (docs/receiver.md, 'Errors').",
        dependencies=[Depends(_no_nul)],
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

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # A bug, not a bad request: logged with its traceback, answered as JSON without it.
        log.error("unhandled error", exc_info=exc, extra={"event": "internal_error"})
        return JSONResponse({"status": "error", "code": "internal_error", "message": "internal error"},
                            status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()]
        return JSONResponse(
            {"status": "error", "code": "bad_request", "message": f"invalid or missing fields: {fields}"},
            status_code=400,
        )

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Liveness, and the batches rejected since start that no enrolled key vouched for (never stored)."""
        return {"status": "ok", "unauthenticated_rejections": rejections.snapshot()}

    @app.post("/v1/batches", openapi_extra=_ENVELOPE_DOC, responses=_BATCH_RESPONSES)
    async def post_batch(request: Request) -> JSONResponse:
        """Submit one signed batch envelope. 200 accepted/duplicate; 4xx rejected with a stable code."""
        data = await _read_limited(request, wire.MAX_ENVELOPE_BYTES)
        # Compact / zstd envelopes (issue 17, cloud_stub/http_capabilities.py): back to the JSON envelope first.
        data = http_capabilities.decoded(data, request.headers.get("content-encoding"),
                                         request.headers.get("content-type"))
        result = await run_in_threadpool(ingest, rdb, data, "http")
        if result.status in ("accepted", "duplicate") and result.gateway_id:  # signed by an enrolled key
            access_log.note_actor("gateway", result.gateway_id)
            access_log.note_returned({"batch": result.hash, "seq": result.seq, "status": result.status})
        return JSONResponse(result.to_json(), status_code=result.http_status)

    @app.post("/v1/heads", openapi_extra=_HEAD_DOC, responses=_HEAD_RESPONSES)
    async def post_head(request: Request) -> JSONResponse:
        """Submit one signed head statement (cloud_stub/heads.py). 200 accepted/duplicate; 4xx rejected,
        and nothing is stored unless the gateway's signature holds."""
        data = await _read_limited(request, 2 * wire.MAX_HEADSTMT_BYTES, "head statement envelope")
        result = await run_in_threadpool(heads.ingest_head, rdb, data, "http")
        if result.status in ("accepted", "duplicate") and result.gateway_id:  # signed by an enrolled key
            access_log.note_actor("gateway", result.gateway_id)
            access_log.note_returned({"head": result.hash, "seq": result.seq, "status": result.status})
        return JSONResponse(result.to_json(), status_code=result.http_status)

    @app.post("/v1/enroll", openapi_extra=_ENROLL_DOC, responses=_ENROLL_ERRORS)
    async def post_enroll(request: Request) -> dict[str, str]:
        """Register a gateway key with a one-time token and a proof of possession."""
        req = _parse_json(await _read_limited(request, MAX_ENROLL_BYTES, "request body"), EnrollRequest)
        out = await run_in_threadpool(enrollment.enroll, rdb, req.token, req.gateway_id, req.public_key, req.proof,
                                      req.key_store)
        access_log.note_actor("gateway", out["gateway_id"], out["enterprise_id"])  # the one-time token held
        access_log.note_returned({"enrolled": out["kid"]})
        log.info("enrolled", extra={"event": "enroll", "gateway": out["gateway_id"], "kid": out["kid"],
                                     "enterprise": out["enterprise_id"], "protection": out["protection"]})
        return {**out, "receiver_kid": key_info["kid"], "receiver_public_key": key_info["public_key"]}

    @app.get("/v1/gateways/{gateway_id}/keys", responses=_KEYS_ERRORS)
    def get_keys(gateway_id: str) -> dict[str, Any]:
        """Public: every key of a gateway, with enrollment and revocation times."""
        return enrollment.gateway_keys(rdb, gateway_id)

    @app.get("/v1/receiver/key")
    def get_receiver_key() -> dict[str, str]:
        """The key that signs feed pages; banks should pin it out of band."""
        return key_info

    _register_feed(app, rdb, signing_key)
    from cloud_stub import http_enterprise  # the enterprise view and disputes (issue 16)

    http_enterprise.register(app, rdb, signing_key)
    app.include_router(http_capabilities.router)
    http_text.register(app, rdb, signing_key)  # the same feeds in words, per language
    app.state.access_log = access_log.AccessLog(rdb)
    app.add_middleware(access_log.AccessLogMiddleware, access=app.state.access_log)
    app.include_router(access_log_api.router(rdb, signing_key, _FEED_ERRORS))
    app.include_router(fleet_api.router(rdb))  # operator fleet list (cloud_stub/fleet_api.py)
    app.include_router(updates_api.router(rdb))  # signed release bundles for gateways (cloud_stub/updates_api.py)
    from cloud_stub import http_facility  # facilities, coverage, portfolio (issue 15)

    app.include_router(http_facility.router(rdb, signing_key))
    from cloud_stub import http_bank_chain  # a bank's private findings and alerts chains (issue 15)

    app.include_router(http_bank_chain.router(rdb, signing_key, _FEED_ERRORS))
    _document_400_not_422(app)
    install_ops(app, rdb, ops)
    return app


def _document_400_not_422(app: FastAPI) -> None:
    """FastAPI describes parameter errors as 422; this API answers them 400 ``bad_request``
    (the handler above), so the description says so, for every route in one place."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for ops in schema.get("paths", {}).values():
                for op in ops.values():
                    responses = op.get("responses", {})
                    if responses.pop("422", None) is not None and "400" not in responses:
                        responses["400"] = {"description": "bad_request: a parameter is missing or invalid",
                                            "content": {"application/json": {"schema": {
                                                "$ref": "#/components/schemas/ErrorResponse"}}}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


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
        start: int | None = _sql_int(None, "from", description="window.start >= this (Unix seconds)"),
        end: int | None = _sql_int(None, "to", description="window.start < this (Unix seconds)"),
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
        after: int | None = _sql_int(None, ge=0, description="legacy: findings with id > after (cursor wins)"),
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

    @app.get("/v1/feed/{enterprise_id}/heads", tags=tags, response_model=feed_models.HeadsPage,
             responses=_FEED_ERRORS)
    def get_heads(enterprise_id: str, authorization: str | None = Header(None)) -> JSONResponse:
        """Per gateway: the receiver's chain head and the gateway's signed head statements, newest first.

        A bank checks each statement with the gateway's key alone and fails a chain served shorter
        than the latest one (docs/wire-format.md §10)."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        return JSONResponse(heads.heads_page(rdb, grant, signing_key))

    @app.get("/v1/feed/{enterprise_id}/alerts", tags=tags, response_model=feed_models.AlertsPage,
             responses=_FEED_ERRORS)
    def get_alerts(
        enterprise_id: str,
        cursor: str | None = Query(None, description=cursor_doc),
        after: int | None = _sql_int(None, ge=0, description="alerts with id > after (cursor wins); a bank "
                                     "re-reads the last alert an earlier run verified"),
        limit: int = Query(1000, description=f"1..10000; {limit_doc}"),
        authorization: str | None = Header(None),
    ) -> JSONResponse:
        """Alerts: what a bank should act on now (red findings, equivocation, a worse warning level)."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        return JSONResponse(feed.alerts_page(rdb, grant, signing_key, cursor=cursor, limit=limit, after_id=after))
